// Command tileclient reads a C2SP tlog-tiles log with torchwood's Client and
// TileFetcher and verifies it against its checkpoint:
//
//	tileclient -tiles URL|DIR -vkey VKEY [-origin O] [-index 0,5,17] [-cosigner VKEY]...
//
// It verifies the checkpoint with golang.org/x/mod/sumdb/note (and, for each
// -cosigner, that witness's cosignature with torchwood), reads every
// entry (each checked against the tree by the Client), proves the inclusion
// of each -index record with tlog.ProveRecord and checks it with
// tlog.CheckRecord, and prints one JSON object. Exit status 1 on any failure.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"certlife.example/interop/internal/logview"
	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type proven struct {
	Index      int64  `json:"index"`
	RecordHash string `json:"record_hash"` // hex SHA-256(0x00 || entry): the Merkle leaf hash
	DataSHA256 string `json:"data_sha256"` // hex SHA-256(entry)
	ProofLen   int    `json:"proof_len"`
}

type output struct {
	OK        bool     `json:"ok"`
	Origin    string   `json:"origin"`
	Size      int64    `json:"size"`
	Root      string   `json:"root"`
	Count     int64    `json:"count"`
	EntriesSH string   `json:"entries_sha256"` // hex SHA-256 of each entry's SHA-256, in order
	Verified  []proven `json:"verified"`
	Cosigned  []string `json:"cosigned_by,omitempty"`
}

type multi []string

func (m *multi) String() string     { return fmt.Sprint(*m) }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	base := flag.String("tiles", "", "tiles base URL (http://…) or directory")
	vkey := flag.String("vkey", "", "the log's note verifier key")
	origin := flag.String("origin", "", "expected origin (default: the key name)")
	indexes := flag.String("index", "", "comma-separated record indexes to prove")
	var cosigners multi
	flag.Var(&cosigners, "cosigner", "witness cosigner vkey whose cosignature the checkpoint must carry (repeatable)")
	flag.Parse()
	if err := run(*base, *vkey, *origin, *indexes, cosigners); err != nil {
		logview.Fail(err)
	}
}

func run(base, vkey, origin, indexList string, cosigners []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("log vkey: %w", err)
	}
	tr, err := logview.Reader(base)
	if err != nil {
		return err
	}
	msg, err := tr.ReadEndpoint(ctx, "checkpoint")
	if err != nil {
		return fmt.Errorf("reading checkpoint: %w", err)
	}
	_, c, err := logview.OpenCheckpoint(msg, v, origin)
	if err != nil {
		return err
	}
	var cosigned []string
	for _, vk := range cosigners {
		cv, err := logview.CosignatureVerifier(vk)
		if err != nil {
			return err
		}
		if _, err := note.Open(msg, note.VerifierList(cv)); err != nil {
			return fmt.Errorf("checkpoint cosignature by %s: %w", cv.Name(), err)
		}
		cosigned = append(cosigned, cv.Name())
	}
	client, err := torchwood.NewClient(tr)
	if err != nil {
		return err
	}
	out := output{Origin: c.Origin, Size: c.N, Root: c.Hash.String(), Cosigned: cosigned}

	// Every entry, each checked by the Client against the tree's hash tiles.
	all := sha256.New()
	for out.Count < c.N {
		before := out.Count
		for i, entry := range client.Entries(ctx, c.Tree, out.Count) {
			if i != out.Count {
				return fmt.Errorf("entry %d yielded out of order (want %d)", i, out.Count)
			}
			h := sha256.Sum256(entry)
			all.Write(h[:])
			out.Count++
		}
		if err := client.Err(); err != nil {
			return fmt.Errorf("reading entries: %w", err)
		}
		if out.Count == before {
			return fmt.Errorf("entries stopped at %d of %d", out.Count, c.N)
		}
	}
	out.EntriesSH = hex.EncodeToString(all.Sum(nil))

	hr := torchwood.TileHashReaderWithContext(ctx, c.Tree, tr)
	if root, err := tlog.TreeHash(c.N, hr); err != nil || root != c.Hash {
		return fmt.Errorf("tree hash from tiles %v (err %v) != checkpoint root %v", root, err, c.Hash)
	}
	for _, s := range strings.Split(indexList, ",") {
		if s == "" {
			continue
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("index %q: %w", s, err)
		}
		entry, _, err := client.Entry(ctx, c.Tree, i)
		if err != nil {
			return err
		}
		leaf := tlog.RecordHash(entry)
		proof, err := tlog.ProveRecord(c.N, i, hr)
		if err != nil {
			return fmt.Errorf("proving record %d: %w", i, err)
		}
		if err := tlog.CheckRecord(proof, c.N, c.Hash, i, leaf); err != nil {
			return fmt.Errorf("inclusion of record %d: %w", i, err)
		}
		data := sha256.Sum256(entry)
		out.Verified = append(out.Verified, proven{Index: i, RecordHash: hex.EncodeToString(leaf[:]),
			DataSHA256: hex.EncodeToString(data[:]), ProofLen: len(proof)})
	}
	out.OK = true
	logview.PrintJSON(out)
	return nil
}
