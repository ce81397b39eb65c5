"""W3C Verifiable Credentials for certlife certificates (contracts/CREDENTIALS.md).

Data Integrity proofs with the ``eddsa-jcs-2022`` cryptosuite, Bitstring Status
Lists, the issuer's controller document and the one rule for list indexes.
Wire formats only: nothing here reads files, clocks or the network.
"""
