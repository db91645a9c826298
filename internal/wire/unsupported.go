package wire

import (
	"reflect"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// unsupportedResponse answers a request at a version below the served range
// (a client too old for us) with a response of that same version in which
// every error code is UNSUPPORTED_VERSION, so the client reports a clear
// error instead of seeing its connection drop.
//
// The response is built generically: starting from the response type's
// defaults, fields that the request and response share by name and type
// (topic names and ids, partition numbers) are copied, arrays of structs
// are mirrored element by element, and every ErrorCode is set. That gives
// each topic and partition the client asked about its own error, which is
// what clients look at.
func unsupportedResponse(req kmsg.Request, code int16) kmsg.Response {
	resp := req.ResponseKind()
	if d, ok := resp.(interface{ Default() }); ok {
		d.Default()
	}
	resp.SetVersion(req.GetVersion())
	mirror(reflect.ValueOf(req).Elem(), reflect.ValueOf(resp).Elem(), code)
	return resp
}

func mirror(src, dst reflect.Value, code int16) {
	t := dst.Type()
	for i := 0; i < t.NumField(); i++ {
		f, df := t.Field(i), dst.Field(i)
		if !f.IsExported() || f.Name == "Version" || f.Name == "UnknownTags" {
			continue
		}
		if f.Name == "ErrorCode" && df.Kind() == reflect.Int16 {
			df.SetInt(int64(code))
			continue
		}
		if df.Kind() == reflect.Slice && df.Type().Elem().Kind() == reflect.Uint8 {
			// Byte fields (a Fetch's records) go out empty, never null:
			// Kafka never sends null records and librdkafka rejects them.
			df.SetBytes([]byte{})
			continue
		}
		sf := src.FieldByName(f.Name)
		if !sf.IsValid() {
			continue
		}
		if df.Kind() == reflect.Slice && sf.Kind() == reflect.Slice &&
			df.Type().Elem().Kind() == reflect.Struct && sf.Type().Elem().Kind() == reflect.Struct {
			out := reflect.MakeSlice(df.Type(), sf.Len(), sf.Len())
			for j := 0; j < sf.Len(); j++ {
				el := out.Index(j)
				if d, ok := el.Addr().Interface().(interface{ Default() }); ok {
					d.Default()
				}
				mirror(sf.Index(j), el, code)
			}
			df.Set(out)
			continue
		}
		if sf.Type() == df.Type() {
			df.Set(sf)
		}
	}
}
