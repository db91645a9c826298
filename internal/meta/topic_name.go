package meta

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// MaxTopicNameLength is Kafka's limit: 255 minus room for a partition
// suffix and a deletion marker in directory names.
const MaxTopicNameLength = 249

// ValidateTopicName applies Kafka's rules for topic names.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: topic name is empty", kerr.InvalidTopicException)
	case name == "." || name == "..":
		return fmt.Errorf("%w: topic name cannot be %q", kerr.InvalidTopicException, name)
	case len(name) > MaxTopicNameLength:
		return fmt.Errorf("%w: topic name is %d characters, more than the limit of %d", kerr.InvalidTopicException, len(name), MaxTopicNameLength)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: topic name %q contains a character other than ASCII alphanumerics, '.', '_' and '-'", kerr.InvalidTopicException, name)
		}
	}
	return nil
}
