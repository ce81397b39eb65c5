// Command gotiles writes a C2SP tlog-tiles directory from a certlife export with
// golang.org/x/mod/sumdb/tlog (stored hashes, NewTiles, ReadTileData) and
// torchwood's entry bundles: an independent rendering of the same log, to
// compare byte for byte with certlife's tiles.
//
//	gotiles -export DIR -out TILES -vkey VKEY [-newest-only]
//
// Tiles are published as an incremental writer would: at each checkpoint
// size in turn (the full and partial tiles tlog.NewTiles lists for the step),
// then the newest checkpoint note as "checkpoint". With -newest-only, only
// the newest checkpoint's size is published (a build from scratch). The log's records are the
// lines of DIR/log.jsonl without their newline.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"certlife.example/interop/internal/logview"
	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type output struct {
	OK    bool     `json:"ok"`
	Size  int64    `json:"size"`
	Root  string   `json:"root"`
	Sizes []int64  `json:"sizes"`
	Files []string `json:"files"`
}

func main() {
	export := flag.String("export", "", "certlife export directory")
	outDir := flag.String("out", "", "tiles directory to write")
	vkey := flag.String("vkey", "", "the log's note verifier key")
	newestOnly := flag.Bool("newest-only", false, "publish only the newest checkpoint's size")
	flag.Parse()
	if err := run(*export, *outDir, *vkey, *newestOnly); err != nil {
		logview.Fail(err)
	}
}

func run(export, outDir, vkey string, newestOnly bool) error {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return err
	}
	records, err := readRecords(filepath.Join(export, "log.jsonl"))
	if err != nil {
		return err
	}
	sizes, notes, err := readCheckpoints(filepath.Join(export, "checkpoints"), v)
	if err != nil {
		return err
	}
	var stored []tlog.Hash
	hr := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x >= int64(len(stored)) {
				return nil, fmt.Errorf("stored hash %d not computed", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for n, r := range records {
		hs, err := tlog.StoredHashes(int64(n), r, hr)
		if err != nil {
			return err
		}
		stored = append(stored, hs...)
	}
	if newestOnly {
		sizes = sizes[len(sizes)-1:]
	}
	out := output{Sizes: sizes}
	write := func(path string, data []byte) error {
		full := filepath.Join(outDir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		out.Files = append(out.Files, path)
		return os.WriteFile(full, data, 0o644)
	}
	prev := int64(0)
	for _, size := range sizes {
		if size > int64(len(records)) {
			return fmt.Errorf("checkpoint %d beyond the %d records", size, len(records))
		}
		root, err := tlog.TreeHash(size, hr)
		if err != nil {
			return err
		}
		if root != notes[size].Hash {
			return fmt.Errorf("checkpoint %d: root %v, tlog computes %v", size, notes[size].Hash, root)
		}
		for _, t := range tlog.NewTiles(torchwood.TileHeight, prev, size) {
			data, err := tlog.ReadTileData(t, hr)
			if err != nil {
				return err
			}
			if err := write(torchwood.TilePath(t), data); err != nil {
				return err
			}
			if t.L != 0 {
				continue
			}
			var bundle []byte
			for i := t.N * torchwood.TileWidth; i < t.N*torchwood.TileWidth+int64(t.W); i++ {
				if bundle, err = torchwood.AppendTileEntry(bundle, records[i]); err != nil {
					return err
				}
			}
			dt := t
			dt.L = -1
			if err := write(torchwood.TilePath(dt), bundle); err != nil {
				return err
			}
		}
		prev = size
	}
	last := sizes[len(sizes)-1]
	raw, err := os.ReadFile(filepath.Join(export, "checkpoints", strconv.FormatInt(last, 10)))
	if err != nil {
		return err
	}
	if err := write("checkpoint", raw); err != nil {
		return err
	}
	out.OK, out.Size, out.Root = true, last, notes[last].Hash.String()
	sort.Strings(out.Files)
	logview.PrintJSON(out)
	return nil
}

func readRecords(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("%s: last line without newline", path)
	}
	var records [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<16), 1<<17)
	for sc.Scan() {
		records = append(records, append([]byte{}, sc.Bytes()...))
	}
	return records, sc.Err()
}

func readCheckpoints(dir string, v note.Verifier) ([]int64, map[int64]torchwood.Checkpoint, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	notes := map[int64]torchwood.Checkpoint{}
	var sizes []int64
	for _, e := range entries {
		size, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || size == 0 {
			continue
		}
		msg, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, err
		}
		_, c, err := logview.OpenCheckpoint(msg, v, "")
		if err != nil {
			return nil, nil, fmt.Errorf("checkpoints/%s: %w", e.Name(), err)
		}
		if c.N != size {
			return nil, nil, fmt.Errorf("checkpoints/%s holds size %d", e.Name(), c.N)
		}
		notes[size] = c
		sizes = append(sizes, size)
	}
	if len(sizes) == 0 {
		return nil, nil, fmt.Errorf("%s: no checkpoints", dir)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	return sizes, notes, nil
}
