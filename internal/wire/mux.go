package wire

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// HandlerFunc serves one decoded request. It returns the response to send,
// or nil to send none (acks=0 produce). An error closes the connection after
// the responses before it are written; return ErrCloseConnection to close
// without logging an error.
type HandlerFunc func(ctx context.Context, r *Request) (kmsg.Response, error)

// API is one supported API key with the version range served.
type API struct {
	Key        int16
	MinVersion int16
	MaxVersion int16
	// AdvertiseFromZero lists the API in ApiVersions from version 0 while
	// requests below MinVersion are still refused. librdkafka enables its
	// gzip, snappy and lz4 support only if Produce v0 is listed, so Kafka
	// 4.0 lists it though it serves v3+ (KAFKA-18659).
	AdvertiseFromZero bool
	Handle            HandlerFunc
}

// Mux maps API keys to handlers. It is built once at start-up and read
// concurrently afterwards. ApiVersions is derived from it, so an API is
// advertised exactly when it is registered.
type Mux struct {
	apis map[int16]API
}

func NewMux() *Mux { return &Mux{apis: map[int16]API{}} }

// Register adds an API. Registering a key twice, or a range kmsg cannot
// encode, is a programming error.
func (m *Mux) Register(a API) {
	if _, dup := m.apis[a.Key]; dup {
		panic(fmt.Sprintf("wire: API key %d registered twice", a.Key))
	}
	req := kmsg.RequestForKey(a.Key)
	if req == nil || a.MinVersion < 0 || a.MaxVersion < a.MinVersion || a.MaxVersion > req.MaxVersion() {
		panic(fmt.Sprintf("wire: API key %d versions %d-%d not encodable by kmsg", a.Key, a.MinVersion, a.MaxVersion))
	}
	m.apis[a.Key] = a
}

// Lookup returns the API for a key.
func (m *Mux) Lookup(key int16) (API, bool) {
	a, ok := m.apis[key]
	return a, ok
}

// Versions lists the registered APIs, sorted by key, as ApiVersions reports
// them.
func (m *Mux) Versions() []kmsg.ApiVersionsResponseApiKey {
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(m.apis))
	for _, a := range m.apis {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.Key, a.MinVersion, a.MaxVersion
		if a.AdvertiseFromZero {
			k.MinVersion = 0
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ApiKey < out[j].ApiKey })
	return out
}
