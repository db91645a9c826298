package compat

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
)

// Scratch: a broker for trying drivers by hand. Deleted before the report.
func TestZZManualBroker(t *testing.T) {
	if os.Getenv("ZZ_MANUAL") == "" {
		t.Skip()
	}
	addr := brokertest.Start(t).KafkaAddr()
	createTopic(t, addr, "g1")
	recs := genRecords(brokertest.Rand(t), 3000, binaryOpts)
	kgoProduce(t, addr, "g1", "none", recs)
	os.WriteFile("/tmp/zz_addr", []byte(addr), 0o644)
	fmt.Println("ADDR", addr)
	time.Sleep(20 * time.Minute)
}
