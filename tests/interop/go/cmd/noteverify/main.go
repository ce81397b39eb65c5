// Command noteverify verifies signed checkpoint notes with
// golang.org/x/mod/sumdb/note (the log's note key) and, optionally, the
// cosignatures of witnesses with torchwood's CosignatureVerifier.
//
//	noteverify -vkey VKEY [-origin O] [-cosigner VKEY]... FILE...
//
// One JSON line per file; exit status 1 if any note fails or lacks a
// cosignature from every -cosigner.
package main

import (
	"flag"
	"fmt"
	"os"

	"certlife.example/interop/internal/logview"
	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
)

type multi []string

func (m *multi) String() string     { return fmt.Sprint(*m) }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

type result struct {
	File       string   `json:"file"`
	OK         bool     `json:"ok"`
	Error      string   `json:"error,omitempty"`
	Origin     string   `json:"origin,omitempty"`
	Size       int64    `json:"size"`
	Root       string   `json:"root,omitempty"`
	VerifiedBy []string `json:"verified_by,omitempty"`
	Cosigned   []string `json:"cosigned_by,omitempty"`
	Timestamps []int64  `json:"cosignature_timestamps,omitempty"`
}

func main() {
	vkey := flag.String("vkey", "", "the log's note verifier key")
	origin := flag.String("origin", "", "expected origin (default: the key name)")
	var cosigners multi
	flag.Var(&cosigners, "cosigner", "witness cosigner vkey that must have cosigned (repeatable)")
	flag.Parse()
	logKey, err := note.NewVerifier(*vkey)
	if err != nil {
		logview.Fail(fmt.Errorf("log vkey: %w", err))
	}
	var cvs []*torchwood.CosignatureVerifier
	for _, c := range cosigners {
		cv, err := logview.CosignatureVerifier(c)
		if err != nil {
			logview.Fail(err)
		}
		cvs = append(cvs, cv)
	}
	failed := false
	for _, path := range flag.Args() {
		r := check(path, logKey, *origin, cvs)
		failed = failed || !r.OK
		logview.PrintJSON(r)
	}
	if failed {
		os.Exit(1)
	}
}

func check(path string, logKey note.Verifier, origin string, cvs []*torchwood.CosignatureVerifier) result {
	r := result{File: path}
	msg, err := os.ReadFile(path)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	n, c, err := logview.OpenCheckpoint(msg, logKey, origin)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Origin, r.Size, r.Root = c.Origin, c.N, c.Hash.String()
	for _, s := range n.Sigs {
		r.VerifiedBy = append(r.VerifiedBy, s.Name)
	}
	for _, cv := range cvs {
		cn, err := note.Open(msg, note.VerifierList(cv))
		if err != nil {
			r.Error = fmt.Sprintf("cosignature of %s: %v", cv.Name(), err)
			return r
		}
		ts, err := torchwood.CosignatureTimestamp(cn.Sigs[0])
		if err != nil {
			r.Error = err.Error()
			return r
		}
		r.Cosigned = append(r.Cosigned, cv.Name())
		r.Timestamps = append(r.Timestamps, ts)
	}
	r.OK = true
	return r
}
