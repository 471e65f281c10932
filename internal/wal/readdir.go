package wal

import (
	"fmt"
	"os"
)

// ReadDir calls fn for every record of every segment in dir, oldest first,
// checking framing and the CRC chain. It takes no locks and repairs nothing,
// so it is safe on a live member's directory (a record being written may
// then show up as a torn tail). Damage ends the walk with a *CorruptError
// naming the file and offset; a torn tail has Torn set. An error from fn
// ends the walk and is returned as is.
func ReadDir(dir string, fn func(Record) error) error {
	segs, err := listSegments(dir)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return fmt.Errorf("%w in %s", ErrNoSegments, dir)
	}
	if err := checkContiguous(segs); err != nil {
		return err
	}
	var res scanResult
	for i, s := range segs {
		f, err := os.Open(s.path)
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err == nil {
			res, err = scanSegment(f, s.path, fi.Size(), res.crc, res.chained, i == len(segs)-1, fn)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if res.torn != nil {
			return res.torn
		}
	}
	return nil
}
