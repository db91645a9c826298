package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Request headers (Kafka protocol):
//
//	v1: api_key int16 | api_version int16 | correlation_id int32 | client_id nullable string (int16 length)
//	v2: v1 | tagged fields (uvarint count, then per field uvarint tag, uvarint size, bytes)
//
// A request uses v2 exactly when its body version is flexible (KIP-482).
// Response headers are v0 (correlation_id) or, for flexible responses, v1
// (correlation_id | tagged fields), except that ApiVersions responses always
// use v0 so that a client can read them before knowing our versions.

// ErrMalformed reports a frame that does not parse; the connection closes.
var ErrMalformed = errors.New("wire: malformed request")

// header is the fixed prefix common to v1 and v2 request headers.
type header struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string
}

// parseFixedHeader reads the v1 part of a request header and returns the
// rest of the frame.
func parseFixedHeader(frame []byte) (header, []byte, error) {
	var h header
	if len(frame) < 10 {
		return h, nil, fmt.Errorf("%w: frame of %d bytes is shorter than a request header", ErrMalformed, len(frame))
	}
	h.Key = int16(binary.BigEndian.Uint16(frame))
	h.Version = int16(binary.BigEndian.Uint16(frame[2:]))
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	n := int(int16(binary.BigEndian.Uint16(frame[8:])))
	rest := frame[10:]
	switch {
	case n == -1:
	case n < -1 || n > len(rest):
		return h, nil, fmt.Errorf("%w: client id length %d with %d bytes left", ErrMalformed, n, len(rest))
	default:
		s := string(rest[:n])
		h.ClientID = &s
		rest = rest[n:]
	}
	return h, rest, nil
}

// skipTaggedFields skips a header's tagged fields; Strata defines none.
func skipTaggedFields(b []byte) ([]byte, error) {
	count, b, err := uvarint(b)
	if err != nil {
		return nil, err
	}
	for i := uint64(0); i < count; i++ {
		if _, b, err = uvarint(b); err != nil { // tag
			return nil, err
		}
		var size uint64
		if size, b, err = uvarint(b); err != nil {
			return nil, err
		}
		if size > uint64(len(b)) {
			return nil, fmt.Errorf("%w: tagged field of %d bytes with %d left", ErrMalformed, size, len(b))
		}
		b = b[size:]
	}
	return b, nil
}

func uvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || v > 1<<31 {
		return 0, nil, fmt.Errorf("%w: bad varint in header", ErrMalformed)
	}
	return v, b[n:], nil
}

// appendResponseHeader starts a response frame: a size placeholder, the
// correlation id and, for flexible headers, an empty tagged-field section.
func appendResponseHeader(dst []byte, correlationID int32, flexible bool) []byte {
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if flexible {
		dst = append(dst, 0)
	}
	return dst
}

// finishFrame fills in the size prefix of a frame started at start.
func finishFrame(buf []byte, start int) {
	binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start-4))
}
