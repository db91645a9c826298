package record

import (
	"errors"
	"fmt"
)

// fieldReader reads the fields of one record (format in records.go). The
// first failure sticks: it moves the position to the end so later reads
// fail too and return zero values, and the caller checks err once.
type fieldReader struct {
	b   []byte
	pos int
	err error
}

func (d *fieldReader) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
	d.pos = len(d.b)
}

// uvarint reads an unsigned base-128 varint of at most maxBytes bytes,
// rejecting longer encodings and bits beyond 64 as Kafka's reader does.
func (d *fieldReader) uvarint(maxBytes int, what string) uint64 {
	var x uint64
	for i := range maxBytes {
		if d.pos >= len(d.b) {
			d.fail("%s: truncated varint", what)
			return 0
		}
		c := d.b[d.pos]
		d.pos++
		if c < 0x80 {
			if i == 9 && c > 1 {
				break // more than 64 bits
			}
			return x | uint64(c)<<(7*i)
		}
		x |= uint64(c&0x7f) << (7 * i)
	}
	d.fail("%s: varint longer than %d bytes", what, maxBytes)
	return 0
}

// varint reads a zigzag int32 of at most 5 bytes.
func (d *fieldReader) varint(what string) int32 {
	u := d.uvarint(5, what)
	if u > 0xffffffff {
		d.fail("%s: varint overflows int32", what)
		return 0
	}
	return int32(uint32(u)>>1) ^ -int32(u&1)
}

// varlong reads a zigzag int64 of at most 10 bytes.
func (d *fieldReader) varlong(what string) int64 {
	u := d.uvarint(10, what)
	return int64(u>>1) ^ -int64(u&1)
}

// bytes reads a varint length and that many bytes; length -1 is null (nil)
// when nullable. The slice's capacity ends with it, so a callee appending to
// it cannot overwrite the next field.
func (d *fieldReader) bytes(what string, nullable bool) []byte {
	n := d.varint(what)
	switch {
	case d.err != nil:
		return nil
	case n == -1 && nullable:
		return nil
	case n < 0:
		d.fail("%s: invalid length %d", what, n)
		return nil
	case int(n) > len(d.b)-d.pos:
		d.fail("%s: length %d exceeds the %d bytes left", what, n, len(d.b)-d.pos)
		return nil
	}
	v := d.b[d.pos : d.pos+int(n) : d.pos+int(n)]
	d.pos += int(n)
	return v
}

var errRecordLength = errors.New("record length out of range")

// parseRecord decodes the record at the start of p into r and returns its
// encoded size. Header keys are converted to strings only if wantHeaders;
// r.Headers is reused from the previous record.
func parseRecord(p []byte, r *Record, wantHeaders bool) (int, error) {
	d := fieldReader{b: p}
	length := d.varint("length")
	if d.err != nil {
		return 0, d.err
	}
	if length < 0 || int(length) > len(p)-d.pos {
		return 0, fmt.Errorf("%w: %d with %d bytes left", errRecordLength, length, len(p)-d.pos)
	}
	end := d.pos + int(length)
	d.b = p[:end]
	if d.pos == end {
		return 0, fmt.Errorf("%w: empty record", errRecordLength)
	}
	d.pos++ // attributes: unused by every Kafka version so far
	r.TimestampDelta = d.varlong("timestamp delta")
	r.OffsetDelta = d.varint("offset delta")
	r.Key = d.bytes("key", true)
	r.Value = d.bytes("value", true)
	r.Headers = r.Headers[:0]
	count := d.varint("header count")
	// Each header takes at least two bytes; this bounds the loop (and the
	// append below) by the record's size, whatever the count claims.
	if count < 0 || int(count) > (end-d.pos)/2 {
		d.fail("header count %d with %d bytes left", count, end-d.pos)
	}
	for range count {
		k := d.bytes("header key", false)
		v := d.bytes("header value", true)
		if d.err != nil {
			break
		}
		if wantHeaders {
			r.Headers = appendHeader(r.Headers, k, v)
		}
	}
	if d.err != nil {
		return 0, d.err
	}
	if d.pos != end {
		return 0, fmt.Errorf("record of %d bytes has %d bytes after its headers", length, end-d.pos)
	}
	return end, nil
}

// appendHeader appends a header, reusing the key string left in the slot
// by the previous record when it is equal: records of a batch tend to carry
// the same header keys, so this saves an allocation per header. The strings
// are ordinary immutable strings either way.
func appendHeader(hs []RecordHeader, k, v []byte) []RecordHeader {
	if i := len(hs); i < cap(hs) {
		hs = hs[:i+1]
		if hs[i].Key != string(k) { // compiles to a comparison, no allocation
			hs[i].Key = string(k)
		}
		hs[i].Value = v
		return hs
	}
	return append(hs, RecordHeader{Key: string(k), Value: v})
}
