package logview

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"filippo.io/torchwood"
)

// publicOnly is a crypto.Signer that holds only an Ed25519 public key: enough
// for torchwood.NewCosignatureSigner to build its CosignatureVerifier.
type publicOnly ed25519.PublicKey

func (p publicOnly) Public() crypto.PublicKey { return ed25519.PublicKey(p) }

func (p publicOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("verification-only key")
}

// CosignatureVerifier parses a cosigner vkey "name+keyid+base64(0x04 || pub)"
// into torchwood's c2sp.org/tlog-cosignature verifier, checking that the key
// ID torchwood computes equals the stated one.
func CosignatureVerifier(vkey string) (*torchwood.CosignatureVerifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("malformed cosigner vkey %q", vkey)
	}
	id, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil || len(parts[1]) != 8 {
		return nil, fmt.Errorf("malformed key id in %q", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 0x04 {
		return nil, fmt.Errorf("not an Ed25519 cosignature/v1 vkey: %q", vkey)
	}
	s, err := torchwood.NewCosignatureSigner(parts[0], publicOnly(raw[1:]))
	if err != nil {
		return nil, err
	}
	v := s.Verifier()
	if v.KeyHash() != uint32(id) {
		return nil, fmt.Errorf("key id mismatch in %q: torchwood computes %08x", vkey, v.KeyHash())
	}
	if v.String() != vkey {
		return nil, fmt.Errorf("torchwood re-encodes %q as %q", vkey, v.String())
	}
	return v, nil
}
