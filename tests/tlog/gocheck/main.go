// Command tlogcheck is an independent checker of the transparency log that the
// registry publishes under <site>/log/ (C2SP tlog-tiles, tlog-checkpoint and
// signed-note). It uses only Go's reference code, golang.org/x/mod/sumdb/note
// and golang.org/x/mod/sumdb/tlog, and fetches over HTTP exactly the files a
// spec-following client fetches for the tree size of the checkpoint it trusts.
// The registry's tests build it offline against Debian's golang-golang-x-mod-dev
// and run it against a site served on 127.0.0.1 (tests/tlog/test_go_checker.py).
//
// Usage:
//
//	tlogcheck -url BASE -vkey VKEY [-checkpoint FILE] [-old FILE] [-leaf N,N,...] [-strict]
//	tlogcheck -mkvkey NAME -pubkey BASE64URL   # print the vkey, built the Go way
//
// BASE is the site's URL (with api/log.json and log/ under it). -strict: a
// missing partial tile is a failure (no fallback to the full tile, which C2SP
// lets clients try): it checks that the log serves the partial tiles of every
// checkpointed size.
//
// The vkey is note.NewEd25519VerifierKey(name, pub):
//
//	name + "+" + %08x(keyID) + "+" + base64std(0x01 || pub)
//	keyID = big-endian uint32 of SHA-256(name || 0x0A || 0x01 || pub)[:4]
//
// Exit status: 0 all checks passed, 1 a check failed, 2 bad usage.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8 // C2SP tlog-tiles: tiles are 2^8 = 256 hashes wide

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlogcheck: FAIL: "+format+"\n", args...)
	os.Exit(1)
}

// c2spPath maps a tlog.Tile to its C2SP path under the log prefix. Go's
// Tile.Path() is the sumdb layout "tile/<H>/<L>/<N>[.p/<W>]"; C2SP has no
// height element, and entry bundles live under "tile/entries/" instead of L.
func c2spPath(t tlog.Tile, entries bool) string {
	rest := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", height)) // "<L>/<N>[.p/<W>]"
	if entries {
		rest = "entries/" + strings.TrimPrefix(rest, "0/")
	}
	return "tile/" + rest
}

// errNotFound is a 404: the file is not served.
type errNotFound struct{ url string }

func (e errNotFound) Error() string { return e.url + ": 404 Not Found" }

var (
	strict    bool
	fallbacks int
	fetched   = map[string]int{} // path -> times fetched
)

// get fetches base+path with a plain HTTP GET, as a client would.
func get(base, path string) ([]byte, error) {
	u := strings.TrimSuffix(base, "/") + "/" + path
	fetched[path]++
	resp, err := http.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, errNotFound{u}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", u, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// readTile fetches tile t (a hash tile, or an entry bundle if entries) from the
// log. If a partial tile is not served it fetches the full tile instead (C2SP:
// clients may fall back to the full tile) unless -strict, and returns the tile
// it read.
func readTile(logURL string, t tlog.Tile, entries bool) (data []byte, read tlog.Tile, err error) {
	data, err = get(logURL, c2spPath(t, entries))
	if _, missing := err.(errNotFound); missing && t.W < 1<<height && !strict {
		full := t
		full.W = 1 << height
		if d, err2 := get(logURL, c2spPath(full, entries)); err2 == nil {
			fallbacks++
			return d, full, nil
		}
	}
	return data, t, err
}

// readHashTile returns the t.W hashes of hash tile t, checking the file size.
func readHashTile(logURL string, t tlog.Tile) ([]byte, error) {
	data, read, err := readTile(logURL, t, false)
	if err == nil && len(data) != read.W*tlog.HashSize {
		err = fmt.Errorf("log/%s: %d bytes, want %d", c2spPath(read, false), len(data), read.W*tlog.HashSize)
	}
	if err != nil {
		return nil, err
	}
	return data[:t.W*tlog.HashSize], nil
}

// httpTiles implements tlog.TileReader over the hash tiles served under logURL.
type httpTiles struct{ logURL string }

func (d httpTiles) Height() int { return height }

func (d httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := readHashTile(d.logURL, t)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (d httpTiles) SaveTiles([]tlog.Tile, [][]byte) {} // nothing to cache

// tilesAt lists the tiles of level L that C2SP says exist at tree size n: the
// full ones and, if any, one partial tile of width floor(n/256^L) mod 256.
// (tlog.NewTiles(8, 0, n) would also list every narrower partial width.)
func tilesAt(n int64, L int) []tlog.Tile {
	var tiles []tlog.Tile
	hashes := n >> (height * L) // hashes at tile level L
	for i := int64(0); i < hashes>>height; i++ {
		tiles = append(tiles, tlog.Tile{H: height, L: L, N: i, W: 1 << height})
	}
	if w := int(hashes % (1 << height)); w > 0 {
		tiles = append(tiles, tlog.Tile{H: height, L: L, N: hashes >> height, W: w})
	}
	return tiles
}

// openCheckpoint verifies a checkpoint note with the log key and parses its
// C2SP body: origin, decimal size, base64 root hash, optional extension lines.
// Signatures by other keys (the 0x04 timestamp cosignature) are ignored by
// note.Open and land in n.UnverifiedSigs.
func openCheckpoint(path string, msg []byte, origin string, v note.Verifier) (tlog.Tree, *note.Note) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail("%s: signature by %s: %v", path, v.Name(), err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 {
		fail("%s: checkpoint body has %d lines, want >= 3", path, len(lines))
	}
	if lines[0] != origin {
		fail("%s: origin %q, want %q", path, lines[0], origin)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		fail("%s: bad tree size %q", path, lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize || base64.StdEncoding.EncodeToString(root) != lines[2] {
		fail("%s: bad root hash %q", path, lines[2])
	}
	for _, ext := range lines[3:] {
		if ext == "" {
			fail("%s: empty extension line", path)
		}
	}
	var h tlog.Hash
	copy(h[:], root)
	return tlog.Tree{N: size, Hash: h}, n
}

func main() {
	base := flag.String("url", "", "site URL (web root with log/ and api/), e.g. http://127.0.0.1:8000/")
	vkey := flag.String("vkey", "", "log verifier key, name+hash+base64")
	cpFile := flag.String("checkpoint", "", "saved checkpoint to check (default: fetch URL/log/checkpoint)")
	oldFile := flag.String("old", "", "older checkpoint: prove the checked tree extends it")
	leaves := flag.String("leaf", "", "comma-separated leaf indexes to prove included")
	mkName := flag.String("mkvkey", "", "print the vkey for this key name and -pubkey, then exit")
	pubB64 := flag.String("pubkey", "", "with -mkvkey: Ed25519 public key, base64url without padding")
	flag.BoolVar(&strict, "strict", false, "a missing partial tile fails (no fallback to the full tile)")
	flag.Parse()

	if *mkName != "" {
		pub, err := base64.RawURLEncoding.DecodeString(*pubB64)
		if err != nil {
			fail("-pubkey: %v", err)
		}
		k, err := note.NewEd25519VerifierKey(*mkName, pub)
		if err != nil {
			fail("-pubkey: %v", err)
		}
		fmt.Println(k)
		return
	}
	if *base == "" || *vkey == "" {
		flag.Usage()
		os.Exit(2)
	}
	logURL := strings.TrimSuffix(*base, "/") + "/log"

	// The origin announced by api/log.json must be the key name and the first
	// line of every checkpoint (the file is unsigned: it can only make us fail).
	var info struct{ Origin string }
	if b, err := get(*base, "api/log.json"); err != nil {
		fail("%v", err)
	} else if err := json.Unmarshal(b, &info); err != nil || info.Origin == "" {
		fail("api/log.json: no origin (%v)", err)
	}
	v, err := note.NewVerifier(*vkey)
	if err != nil {
		fail("-vkey: %v", err)
	}
	if v.Name() != info.Origin {
		fail("-vkey name %q is not the origin %q of api/log.json", v.Name(), info.Origin)
	}

	readCheckpoint := func(file string) (string, []byte) {
		if file == "" {
			b, err := get(logURL, "checkpoint")
			if err != nil {
				fail("%v", err)
			}
			return "log/checkpoint", b
		}
		b, err := os.ReadFile(file)
		if err != nil {
			fail("%v", err)
		}
		return file, b
	}
	cpName, cpText := readCheckpoint(*cpFile)
	*cpFile = cpName
	tree, n := openCheckpoint(cpName, cpText, info.Origin, v)
	fmt.Printf("checkpoint %s: size %d, root %v, signed by %s (%d other signature(s) ignored)\n",
		*cpFile, tree.N, tree.Hash, v.Name(), len(n.UnverifiedSigs))

	// 1. The client's view: the root from the tiles that exist at size tree.N
	// (full, or .p/W for the rightmost), fetched through TileHashReader, which
	// checks the tiles it needs for the root against the checkpoint.
	hr := tlog.TileHashReader(tree, httpTiles{logURL})
	if tree.N == 0 { // RFC 6962: empty tree is SHA-256(""); Go's TreeHash(0) is all zeros
		if tree.Hash != tlog.Hash(sha256.Sum256(nil)) {
			fail("%s: size 0 but root is not SHA-256(\"\")", *cpFile)
		}
	} else if th, err := tlog.TreeHash(tree.N, hr); err != nil {
		fail("tree hash at size %d from tiles: %v", tree.N, err)
	} else if th != tree.Hash {
		fail("tree hash from tiles %v != checkpoint root %v", th, tree.Hash)
	}

	// 2. The auditor's view: rebuild every stored hash from the entry bundles
	// (uint16be length || entry, W entries each), check the root, then check
	// every hash tile byte for byte. This does not rely on TileHashReader to
	// authenticate level-0 tiles: x/mod (v0.7.0 to at least v0.37.0) skips that
	// check for tiles listed at positions < len(stx) in ReadHashes.
	var store []tlog.Hash // store[i] = stored hash with tlog.StoredHashIndex i
	storeReader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = store[x]
		}
		return out, nil
	})
	for _, t := range tilesAt(tree.N, 0) {
		data, read, err := readTile(logURL, t, true)
		if err != nil {
			fail("entry bundle: %v", err)
		}
		rel := "log/" + c2spPath(read, true)
		for i := 0; i < t.W; i++ {
			if len(data) < 2 || len(data) < 2+int(binary.BigEndian.Uint16(data)) {
				fail("%s: truncated at entry %d of %d", rel, i, t.W)
			}
			l := 2 + int(binary.BigEndian.Uint16(data))
			hs, _ := tlog.StoredHashes(t.N<<height+int64(i), data[2:l], storeReader)
			store = append(store, hs...)
			data = data[l:]
		}
		if len(data) != 0 && read == t { // a full bundle read as fallback has more
			fail("%s: %d trailing bytes after %d entries", rel, len(data), t.W)
		}
	}
	if root, _ := tlog.TreeHash(tree.N, storeReader); tree.N > 0 && root != tree.Hash {
		fail("entry bundles hash to root %v, checkpoint has %v", root, tree.Hash)
	}
	ntiles := 0
	for L := 0; tree.N>>(height*L) > 0; L++ {
		for _, t := range tilesAt(tree.N, L) {
			want, _ := tlog.ReadTileData(t, storeReader)
			got, err := readHashTile(logURL, t)
			if err != nil {
				fail("hash tile: %v", err)
			}
			if !bytes.Equal(got, want) {
				fail("log/%s: differs from the hashes of the entry bundles", c2spPath(t, false))
			}
			ntiles++
		}
	}
	fmt.Printf("entries: %d entries and %d hash tiles match the checkpoint root\n", tree.N, ntiles)

	// Inclusion proofs for the requested leaves.
	for _, s := range strings.FieldsFunc(*leaves, func(r rune) bool { return r == ',' }) {
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || i < 0 || i >= tree.N {
			fail("-leaf %q: not a leaf index of a tree of size %d", s, tree.N)
		}
		p, err := tlog.ProveRecord(tree.N, i, hr)
		if err != nil {
			fail("inclusion proof of leaf %d: %v", i, err)
		}
		// The leaf hash is RecordHash of the entry read from its bundle.
		if err := tlog.CheckRecord(p, tree.N, tree.Hash, i, store[tlog.StoredHashIndex(0, i)]); err != nil {
			fail("inclusion of leaf %d in tree %d: %v", i, tree.N, err)
		}
		fmt.Printf("inclusion: leaf %d in tree %d, proof of %d hashes OK\n", i, tree.N, len(p))
	}

	// Consistency: the checked tree extends the older checkpoint.
	if *oldFile != "" {
		oldName, oldText := readCheckpoint(*oldFile)
		old, _ := openCheckpoint(oldName, oldText, info.Origin, v)
		if old.N > tree.N {
			fail("%s: old size %d > new size %d: log rolled back", *oldFile, old.N, tree.N)
		}
		if old.N > 0 { // ProveTree needs 1 <= old.N <= tree.N
			p, err := tlog.ProveTree(tree.N, old.N, hr)
			if err != nil {
				fail("consistency proof %d -> %d: %v", old.N, tree.N, err)
			}
			if err := tlog.CheckTree(p, tree.N, tree.Hash, old.N, old.Hash); err != nil {
				fail("consistency %d -> %d (%s): %v", old.N, tree.N, *oldFile, err)
			}
			fmt.Printf("consistency: %s (size %d) -> size %d, proof of %d hashes OK\n", *oldFile, old.N, tree.N, len(p))
		}
	}
	fmt.Printf("fetched %d files, %d fallback(s) to a full tile\n", len(fetched), fallbacks)
	fmt.Println("OK")
}
