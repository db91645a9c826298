// Package integration drives a real Strata node over real sockets with
// franz-go's kgo and kadm clients (helpers in internal/broker/brokertest).
package integration
