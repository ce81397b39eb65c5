"""The partner tools: certverify, the mirror's process side, exports and proof bundles."""
