package api

// ApiVersions, v0-v5. The versions listed are exactly the registrations of
// this package. From v3 the client names its software, which must match
// KIP-511's pattern.

import (
	"context"
	"regexp"

	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ApiVersions, 0, 5, (*Handlers).apiVersions) }

var softwareNamePattern = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func (h *Handlers) apiVersions(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if r.Version >= 3 {
		if !softwareNamePattern.MatchString(req.ClientSoftwareName) || !softwareNamePattern.MatchString(req.ClientSoftwareVersion) {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return resp, nil
		}
		r.Conn.ClientSoftwareName = req.ClientSoftwareName
		r.Conn.ClientSoftwareVersion = req.ClientSoftwareVersion
	}
	resp.ApiKeys = h.mux.Versions()
	return resp, nil
}
