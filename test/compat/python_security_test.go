package compat

import "testing"

// TestPythonSecurity runs the security scenarios with the Python clients;
// the drivers read the security settings from --bootstrap.
func TestPythonSecurity(t *testing.T) {
	pyRequire(t)
	for _, c := range pyClients {
		t.Run(c.name, func(t *testing.T) {
			runSecurityScenarios(t, secureClient{
				client: client{name: c.name, opts: c.opts, produce: c.produceCodec, consume: c.consume},
				groups: c.groups(),
			})
		})
	}
}
