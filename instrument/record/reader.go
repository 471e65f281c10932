package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kvtrace/kvtrace/instrument/names"
)

// Block is one decoded block: its records with their contexts resolved.
type Block struct {
	Offset  int64  // where the block starts in its file
	Wall    int64  // wall clock when it was encoded, Unix ns
	Mono    int64  // monotonic clock at the same instant
	Dropped uint64 // records dropped (buffer full) just before this block
	Records []Rec
}

// WallTime converts a monotonic time of one of b's records to Unix ns.
func (b *Block) WallTime(mono int64) int64 { return b.Wall + (mono - b.Mono) }

// TornTail is the WARNING a reader returns for a file whose last block was
// cut short or damaged by a crash (doc.go "Torn tails"). Everything before
// Offset was read.
type TornTail struct {
	File   string
	Offset int64 // start of the torn block
	Size   int64 // the file's size
	Reason string
}

func (t *TornTail) Error() string {
	return fmt.Sprintf("%s: torn tail at offset %d of %d (%s): the records of that last block are lost; the rest was read",
		t.File, t.Offset, t.Size, t.Reason)
}

// CorruptError is damage in the middle of a file, or a header a reader
// cannot accept. Nothing is guessed: the reader stops there.
type CorruptError struct {
	File   string
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: corrupt trace recording at offset %d: %s (written data after it is not trusted; move the file aside to read the others)",
		e.File, e.Offset, e.Reason)
}

// Reader streams the blocks of one file.
type Reader struct {
	name string
	ra   io.ReaderAt
	size int64
	off  int64
	hdr  Header
	torn *TornTail
	hbuf [BlockHeaderSize]byte
	body []byte
	ctxs []ctxKey
}

// NewReader reads and checks the file header of the recording in ra (size
// bytes, named name in errors).
func NewReader(name string, ra io.ReaderAt, size int64) (*Reader, error) {
	r := &Reader{name: name, ra: ra, size: size}
	corrupt := func(reason string) error { return &CorruptError{File: name, Offset: 0, Reason: reason} }
	var fixed [fileHeaderFixed]byte
	if size < fileHeaderFixed+4 {
		return nil, corrupt(fmt.Sprintf("%d bytes is shorter than a file header", size))
	}
	if _, err := ra.ReadAt(fixed[:], 0); err != nil {
		return nil, fmt.Errorf("%s: read header: %w", name, err)
	}
	if !bytes.Equal(fixed[0:8], magic[:]) {
		return nil, corrupt("not a kvtrace recording (bad magic)")
	}
	if v := binary.LittleEndian.Uint16(fixed[8:]); v != Version {
		return nil, corrupt(fmt.Sprintf("format version %d; this reader knows version %d", v, Version))
	}
	if rs := binary.LittleEndian.Uint16(fixed[10:]); rs != RecordSize {
		return nil, corrupt(fmt.Sprintf("record size %d; version %d has %d", rs, Version, RecordSize))
	}
	n := int64(binary.LittleEndian.Uint16(fixed[12:]))
	if n > maxNameLen || size < fileHeaderFixed+n+4 {
		return nil, corrupt(fmt.Sprintf("member name length %d does not fit the file", n))
	}
	rest := make([]byte, n+4)
	if _, err := ra.ReadAt(rest, fileHeaderFixed); err != nil {
		return nil, fmt.Errorf("%s: read header: %w", name, err)
	}
	crc := crc32.Update(crc32.Checksum(fixed[:], castagnoli), castagnoli, rest[:n])
	if crc != binary.LittleEndian.Uint32(rest[n:]) {
		return nil, corrupt("file header fails its CRC")
	}
	r.hdr = Header{Version: Version, MemberID: binary.LittleEndian.Uint64(fixed[16:]),
		Wall: int64(binary.LittleEndian.Uint64(fixed[24:])), Member: string(rest[:n])}
	r.off = fileHeaderFixed + n + 4
	return r, nil
}

// Header returns the file header.
func (r *Reader) Header() Header { return r.hdr }

// Torn returns the torn-tail warning once Next has returned io.EOF, nil if
// the file ended cleanly.
func (r *Reader) Torn() *TornTail { return r.torn }

// Next decodes the next block into b, reusing b.Records. It returns io.EOF
// at the end of the file (then see Torn), or a *CorruptError.
func (r *Reader) Next(b *Block) error {
	if r.torn != nil || r.off >= r.size {
		return io.EOF
	}
	o, rem := r.off, r.size-r.off
	torn := func(reason string) error {
		r.torn = &TornTail{File: r.name, Offset: o, Size: r.size, Reason: reason}
		r.off = r.size
		return io.EOF
	}
	corrupt := func(reason string) error { return &CorruptError{File: r.name, Offset: o, Reason: reason} }
	if rem < BlockHeaderSize {
		return torn(fmt.Sprintf("file ends %d bytes into a block header", rem))
	}
	if _, err := r.ra.ReadAt(r.hbuf[:], o); err != nil {
		return fmt.Errorf("%s: read block at %d: %w", r.name, o, err)
	}
	h := r.hbuf[:]
	bodyLen := int64(binary.LittleEndian.Uint32(h[0:]))
	n := int64(binary.LittleEndian.Uint32(h[8:]))
	c := int64(binary.LittleEndian.Uint32(h[12:]))
	if n < 1 || n > MaxBlockRecords || c > n || bodyLen != ContextSize*c+RecordSize*n {
		// A header written only in part and followed by the zeros a
		// filesystem leaves after a crash (or zeros alone) is a torn tail.
		zero, err := r.zeroFrom(o + BlockHeaderSize)
		if err != nil {
			return err
		}
		if zero {
			return torn("an incomplete block header followed by zeros")
		}
		return corrupt(fmt.Sprintf("block header is inconsistent (length %d, %d records, %d contexts)", bodyLen, n, c))
	}
	end := o + BlockHeaderSize + bodyLen
	if end > r.size {
		return torn(fmt.Sprintf("file ends inside a block of %d records", n))
	}
	if int64(cap(r.body)) < bodyLen {
		r.body = make([]byte, bodyLen)
	}
	body := r.body[:bodyLen]
	if _, err := r.ra.ReadAt(body, o+BlockHeaderSize); err != nil {
		return fmt.Errorf("%s: read block at %d: %w", r.name, o, err)
	}
	crc := crc32.Update(crc32.Checksum(h[8:], castagnoli), castagnoli, body)
	if crc != binary.LittleEndian.Uint32(h[4:]) {
		if end == r.size {
			return torn("the last block fails its CRC")
		}
		zero, err := r.zeroFrom(end)
		if err != nil {
			return err
		}
		if zero {
			return torn("the last block fails its CRC; only zero bytes follow")
		}
		return corrupt("block fails its CRC and more data follows it")
	}
	r.ctxs = r.ctxs[:0]
	for i := int64(0); i < c; i++ {
		var k ctxKey
		copy(k.t[:], body[i*ContextSize:])
		copy(k.p[:], body[i*ContextSize+16:])
		r.ctxs = append(r.ctxs, k)
	}
	recs := body[c*ContextSize:]
	b.Offset = o
	b.Wall = int64(binary.LittleEndian.Uint64(h[24:]))
	b.Mono = int64(binary.LittleEndian.Uint64(h[32:]))
	b.Dropped = binary.LittleEndian.Uint64(h[40:])
	b.Records = b.Records[:0]
	for i := int64(0); i < n; i++ {
		var rec Rec
		ref := decodeRecord(recs[i*RecordSize:], &rec)
		switch {
		case !rec.Boundary.Valid():
			return corrupt(fmt.Sprintf("record %d has boundary id %d, which instrument/names does not know", i, rec.Boundary))
		case int64(ref) > c:
			return corrupt(fmt.Sprintf("record %d refers to context %d of %d", i, ref, c))
		case rec.End < rec.Start:
			return corrupt(fmt.Sprintf("record %d ends before it starts", i))
		}
		if ref > 0 {
			rec.TraceID, rec.Parent = r.ctxs[ref-1].t, r.ctxs[ref-1].p
		}
		b.Records = append(b.Records, rec)
	}
	r.off = end
	return nil
}

// zeroFrom reports whether every byte from off to the end of the file is zero.
func (r *Reader) zeroFrom(off int64) (bool, error) {
	var buf [32 << 10]byte
	for off < r.size {
		n := min(int64(len(buf)), r.size-off)
		if _, err := r.ra.ReadAt(buf[:n], off); err != nil {
			return false, fmt.Errorf("%s: read at %d: %w", r.name, off, err)
		}
		for _, x := range buf[:n] {
			if x != 0 {
				return false, nil
			}
		}
		off += n
	}
	return true, nil
}

// ReadFile streams every block of the file at path to fn. A torn tail is
// returned as the warning, with a nil error; fn's error stops the read and is
// returned.
func ReadFile(path string, fn func(h *Header, b *Block) error) (*TornTail, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	r, err := NewReader(path, f, st.Size())
	if err != nil {
		return nil, err
	}
	h := r.Header()
	var b Block
	for {
		err := r.Next(&b)
		if errors.Is(err, io.EOF) {
			return r.Torn(), nil
		}
		if err != nil {
			return nil, err
		}
		if err := fn(&h, &b); err != nil {
			return nil, err
		}
	}
}

// Files lists the recording files (*.krec) in dir, in name (= time) order.
func Files(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), fileExt) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}

// BoundaryName is the span name of a record's boundary.
func (r *Rec) BoundaryName() string { return names.ID(r.Boundary).Name() }

// ReadHeader reads and checks only the file header of the recording at path
// (a member's name and id are known even from a file with no block yet).
func ReadHeader(path string) (Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Header{}, err
	}
	r, err := NewReader(path, f, st.Size())
	if err != nil {
		return Header{}, err
	}
	return r.Header(), nil
}
