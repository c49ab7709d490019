package broker

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// ValidateTopic rejects topics every implementation refuses: empty ones and
// those holding white space, control characters or invalid UTF-8. The
// error wraps [ErrInvalidTopic]. Implementations may refuse more.
func ValidateTopic(topic string) error {
	if topic == "" {
		return fmt.Errorf("%w: empty", ErrInvalidTopic)
	}
	if !utf8.ValidString(topic) {
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidTopic, topic)
	}
	for _, r := range topic {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("%w: %q holds white space or a control character", ErrInvalidTopic, topic)
		}
	}
	return nil
}
