package meta

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// Producer ids (KIP-98) are handed out in blocks, as Kafka's controller
// does (KIP-730's AllocateProducerIds): a broker takes a block of ids by
// committing an AllocateProducerIDs record, then gives ids from it to
// producers without asking again. The image keeps the first id no block
// holds yet, so an id is never given twice, across restarts and brokers;
// ids of a block a broker did not use before it restarted are skipped.

// AllocateProducerIDs takes the ids [First, First+Size) for Broker. First
// must be the image's next free id when the record applies, else the record
// fails (another block was taken meanwhile) and the proposer retries: the
// proposer learns its block without a return value from the state machine.
type AllocateProducerIDs struct {
	Broker int32 `json:"broker"`
	First  int64 `json:"first"`
	Size   int64 `json:"size"`
}

// MaxProducerIDBlock bounds one block, so that a bad request cannot use up
// the id space.
const MaxProducerIDBlock = 1 << 20

// errProducerIDConflict is a block whose first id was taken meanwhile.
var errProducerIDConflict = errors.New("meta: producer id block was taken by another allocation")

// NextProducerID is the first producer id no block holds.
func (im *Image) NextProducerID() int64 { return im.nextProducerID }

func (im *Image) applyAllocateProducerIDs(a *AllocateProducerIDs) error {
	switch {
	case a.Size <= 0 || a.Size > MaxProducerIDBlock:
		return fmt.Errorf("meta: producer id block of %d ids", a.Size)
	case a.First != im.nextProducerID:
		return errProducerIDConflict
	case a.First > math.MaxInt64-a.Size:
		return fmt.Errorf("meta: producer ids are exhausted at %d", a.First)
	}
	im.nextProducerID = a.First + a.Size
	return nil
}

// maxAllocateAttempts bounds the retries of a block allocation that loses
// races to other brokers' allocations.
const maxAllocateAttempts = 10

// AllocateProducerIDs commits a block of size producer ids for broker and
// returns its first id.
func (s *Store) AllocateProducerIDs(ctx context.Context, broker int32, size int64) (int64, error) {
	for range maxAllocateAttempts {
		first := s.Image().NextProducerID()
		err := s.proposeOne(ctx, Record{AllocateProducerIDs: &AllocateProducerIDs{Broker: broker, First: first, Size: size}})
		if err == nil {
			return first, nil
		}
		if !errors.Is(err, errProducerIDConflict) {
			return -1, err
		}
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
	}
	return -1, fmt.Errorf("meta: allocate producer ids: %d attempts lost to concurrent allocations", maxAllocateAttempts)
}
