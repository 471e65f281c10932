package wal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// decoder reads the frames of one segment and checks the CRC chain. It never
// allocates more than the bytes left in the segment, whatever a length word
// claims. Compare etcd decoder.go (decodeRecord, decodeFrameSize).
type decoder struct {
	r    *bufio.Reader
	file string
	size int64 // bytes in the segment
	off  int64 // offset of the next unread byte

	good    int64  // end of the last record that decoded cleanly
	crc     uint32 // running CRC after the last good record
	chained bool   // crc came from the log (a CRCType record or earlier records)
	ended   bool   // stopped at a zero length word, not at end of file

	word [lengthWordBytes]byte
}

// newDecoder reads size bytes from r. crc/chained carry the chain over from
// the previous segment; pass 0/false when starting a fresh read.
func newDecoder(r io.Reader, file string, size int64, crc uint32, chained bool) *decoder {
	return &decoder{r: bufio.NewReaderSize(r, 64<<10), file: file, size: size, crc: crc, chained: chained}
}

func (d *decoder) corrupt(at int64, cause error, tearable bool, format string, args ...any) *CorruptError {
	return &CorruptError{File: d.file, Offset: at, Reason: fmt.Sprintf(format, args...), Err: cause, tearable: tearable}
}

// next returns the next record. At the end of the segment (end of file at a
// frame boundary, or a zero length word) it returns io.EOF. Damage is a
// *CorruptError; other errors are I/O failures.
func (d *decoder) next() (Record, error) {
	start := d.off
	left := d.size - start
	if left == 0 {
		return Record{}, io.EOF
	}
	if left < lengthWordBytes {
		if err := d.skip(left); err != nil {
			return Record{}, err
		}
		return Record{}, d.corrupt(start, ErrUnexpectedEOF, true, "file ends %d bytes into a length word", left)
	}
	if _, err := io.ReadFull(d.r, d.word[:]); err != nil {
		return Record{}, d.ioErr(err)
	}
	d.off += lengthWordBytes
	word := binary.LittleEndian.Uint64(d.word[:])
	if word == 0 {
		d.ended = true
		return Record{}, io.EOF
	}
	n, pad, ok := decodeLengthWord(word)
	if !ok {
		return Record{}, d.corrupt(start, ErrBadFrame, true, "malformed length word %#016x", word)
	}
	if left = d.size - d.off; n+pad > left {
		if err := d.skip(left); err != nil {
			return Record{}, err
		}
		return Record{}, d.corrupt(start, ErrUnexpectedEOF, true,
			"record of %d bytes runs past end of file (%d bytes left)", n+pad, left)
	}
	buf := make([]byte, n+pad)
	if _, err := io.ReadFull(d.r, buf); err != nil {
		return Record{}, d.ioErr(err)
	}
	d.off += n + pad
	for _, b := range buf[n:] {
		if b != 0 {
			return Record{}, d.corrupt(start, ErrBadFrame, true, "non-zero padding")
		}
	}
	data := buf[:n]
	t := RecordType(data[0])
	if data[1] != ^data[0] {
		return Record{}, d.corrupt(start, ErrBadFrame, true, "record type byte %#02x does not match its check byte %#02x", data[0], data[1])
	}
	if data[2] != 0 || data[3] != 0 {
		return Record{}, d.corrupt(start, ErrBadFrame, true, "non-zero reserved header bytes")
	}
	stored := binary.LittleEndian.Uint32(data[4:8])
	payload := data[recordHeaderBytes:]
	rec := Record{Type: t, Data: payload, File: d.file, Offset: start, CRC: stored}

	if t == CRCType {
		if len(payload) != 0 {
			return Record{}, d.corrupt(start, ErrBadFrame, true, "CRC record with a %d-byte payload", len(payload))
		}
		// A CRC record only opens a segment, and segments are synced BEFORE
		// they get their name, so a mismatch here is never a torn write.
		if d.chained && stored != d.crc {
			return Record{}, d.corrupt(start, ErrCRCMismatch, false,
				"CRC record carries %#08x but the chain is at %#08x", stored, d.crc)
		}
		d.crc, d.chained = stored, true
		d.good = d.off
		return rec, nil
	}
	if want := crc32.Update(d.crc, crcTable, payload); want != stored {
		return Record{}, d.corrupt(start, ErrCRCMismatch, true, "CRC mismatch (stored %#08x, computed %#08x)", stored, want)
	}
	if !t.known() {
		// The CRC matched, so this is what was written: a newer format or a
		// bug, never a torn write.
		return Record{}, d.corrupt(start, ErrUnknownType, false, "unknown record type %d", uint8(t))
	}
	d.crc, d.chained = stored, true
	d.good = d.off
	return rec, nil
}

// zeroChunk is compared against, so the scan runs at memory speed (a boot
// reads the whole preallocated tail of the last segment, 64 MiB by default).
var zeroChunk [64 << 10]byte

// restIsZero consumes the rest of the segment and reports whether it is all
// zero bytes, and if not, the offset of the first non-zero byte.
func (d *decoder) restIsZero() (bool, int64, error) {
	chunk := make([]byte, len(zeroChunk))
	for d.off < d.size {
		k := min(int64(len(chunk)), d.size-d.off)
		if _, err := io.ReadFull(d.r, chunk[:k]); err != nil {
			return false, 0, d.ioErr(err)
		}
		if !bytes.Equal(chunk[:k], zeroChunk[:k]) {
			for i, b := range chunk[:k] {
				if b != 0 {
					return false, d.off + int64(i), nil
				}
			}
		}
		d.off += k
	}
	return true, 0, nil
}

func (d *decoder) skip(k int64) error {
	if _, err := d.r.Discard(int(k)); err != nil {
		return d.ioErr(err)
	}
	d.off += k
	return nil
}

// ioErr wraps a read failure. A short read here means the file shrank while
// being read, which is an I/O problem, not a format one.
func (d *decoder) ioErr(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("wal: read %s at offset %d: %w", d.file, d.off, err)
}
