package replica

import (
	"errors"
)

// errMarkersNotImplemented is replaced by the partition side of issue 6.
var errMarkersNotImplemented = errors.New("replica: transaction markers are not implemented yet")

// WriteTxnMarker appends a control batch ending producerID's transaction on
// this partition (commit or abort), as the transaction coordinator asks
// (Kafka's WriteTxnMarkers). It returns the marker's offset. The
// transaction's records become visible to read_committed readers (commit)
// or are listed as aborted (abort), and the last stable offset moves.
func (p *Partition) WriteTxnMarker(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32) (int64, error) {
	return -1, errMarkersNotImplemented
}
