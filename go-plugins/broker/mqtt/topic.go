package mqtt

import (
	"fmt"
	"strings"

	"github.com/openmicro/go-micro/broker"
)

// maxTopicLen is the longest topic name or filter MQTT can carry, in bytes
// of UTF-8 (its length field is 16 bits).
const maxTopicLen = 65535

// sharePrefix starts the filter of a shared subscription:
// $share/<group>/<topic>.
const sharePrefix = "$share/"

// MapTopic returns the MQTT topic name a broker topic is published on and
// subscribed to: every '.' becomes '/', so "go.micro.orders" is the MQTT
// topic "go/micro/orders", and nothing else changes. The mapping is one to
// one because topics that hold '/' (it would map "a/b" and "a.b" to the
// same name), the MQTT wildcards '+' and '#', or start with '$' (MQTT keeps
// those for the server, such as $SYS and $share) are refused, as are those
// [broker.ValidateTopic] refuses and those whose MQTT name would exceed
// 65535 bytes. Errors wrap [broker.ErrInvalidTopic].
//
// Other MQTT clients publish on the mapped name to reach go-micro
// subscribers (the payload must be an envelope, see [EncodeEnvelope]).
func MapTopic(topic string) (string, error) {
	if err := broker.ValidateTopic(topic); err != nil {
		return "", err
	}
	if i := strings.IndexAny(topic, "/+#"); i >= 0 {
		return "", fmt.Errorf("%w: %q holds %q, which MQTT reserves (separate levels with '.')",
			broker.ErrInvalidTopic, topic, topic[i])
	}
	if topic[0] == '$' {
		return "", fmt.Errorf("%w: %q starts with '$', which MQTT reserves for server topics",
			broker.ErrInvalidTopic, topic)
	}
	if len(topic) > maxTopicLen {
		return "", fmt.Errorf("%w: %q is longer than MQTT's %d bytes", broker.ErrInvalidTopic, topic[:32]+"...", maxTopicLen)
	}
	return strings.ReplaceAll(topic, ".", "/"), nil
}

// brokerTopic is the inverse of MapTopic for names MapTopic produced.
func brokerTopic(name string) string { return strings.ReplaceAll(name, "/", ".") }

// sharedFilter returns the filter of the shared subscription of group to
// the MQTT topic name, checking the group and the filter's length. Errors
// wrap [ErrInvalidQueue] or [broker.ErrInvalidTopic].
func sharedFilter(group, name string) (string, error) {
	if err := validateGroup(group); err != nil {
		return "", err
	}
	f := sharePrefix + group + "/" + name
	if len(f) > maxTopicLen {
		return "", fmt.Errorf("%w: shared subscription filter for group %q is longer than MQTT's %d bytes",
			broker.ErrInvalidTopic, group, maxTopicLen)
	}
	return f, nil
}

// validateGroup checks a queue group name: one level of an MQTT filter.
func validateGroup(group string) error {
	if err := broker.ValidateTopic(group); err != nil {
		// Reuse the generic checks, reported as a bad group.
		return fmt.Errorf("%w %q: empty, or holds white space, control characters or invalid UTF-8",
			ErrInvalidQueue, group)
	}
	if i := strings.IndexAny(group, "/+#"); i >= 0 {
		return fmt.Errorf("%w %q: holds %q, which MQTT reserves", ErrInvalidQueue, group, group[i])
	}
	return nil
}
