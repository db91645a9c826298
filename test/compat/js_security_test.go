package compat

import "testing"

// TestJavaScriptSecurity runs the security scenarios with the JavaScript
// clients; the drivers read the security settings from --bootstrap.
func TestJavaScriptSecurity(t *testing.T) {
	for _, c := range jsClients {
		t.Run(c.name, func(t *testing.T) {
			c.require(t)
			runSecurityScenarios(t, secureClient{
				client: client{name: c.name, opts: c.opts, produce: c.produceCodec, consume: c.consume},
				groups: c.groups(),
			})
		})
	}
}
