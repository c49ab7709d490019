package nats

import (
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"unicode"

	natsgo "github.com/nats-io/nats.go"
	"github.com/openmicro/go-micro/broker"
)

// decodeHeader turns the headers of a received NATS message into a
// broker header. A key with several values (possible from other NATS
// clients) gets them joined with ", ", as HTTP does. A message without
// headers, or whose headers nats.go could not parse, gets nil.
func decodeHeader(h natsgo.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, vs := range h {
		switch len(vs) {
		case 0:
			out[k] = ""
		case 1:
			out[k] = vs[0]
		default:
			out[k] = strings.Join(vs, ", ")
		}
	}
	return out
}

// outMsg is a reusable NATS message for publishing with headers: nats.go
// encodes the header while publishing and keeps no reference to it, so
// the map and the value slices are recycled. Publishers tend to send the
// same header keys again and again; then only the values are set.
type outMsg struct {
	msg  natsgo.Msg
	vals []string
}

var outMsgs = sync.Pool{New: func() any { return &outMsg{msg: natsgo.Msg{Header: make(natsgo.Header)}} }}

// getOutMsg fills a pooled message with subject, header and body; give it
// back with putOutMsg once published.
func getOutMsg(subject string, header map[string]string, body []byte) *outMsg {
	o := outMsgs.Get().(*outMsg)
	if !o.setValues(header) {
		clear(o.msg.Header)
		if cap(o.vals) < len(header) {
			o.vals = make([]string, len(header))
		}
		vals := o.vals[:len(header)]
		i := 0
		for k, v := range header {
			vals[i] = v
			o.msg.Header[k] = vals[i : i+1 : i+1]
			i++
		}
	}
	o.msg.Subject = subject
	o.msg.Data = body
	return o
}

// setValues sets the values of header when o holds exactly its keys
// already, and reports whether it did.
func (o *outMsg) setValues(header map[string]string) bool {
	if len(o.msg.Header) != len(header) {
		return false
	}
	for k, v := range header {
		vs, ok := o.msg.Header[k]
		if !ok {
			return false
		}
		vs[0] = v
	}
	return true
}

// putOutMsg recycles o. The header stays for the next message, which is
// likely to have the same keys; the pool lets it go at garbage collection.
func putOutMsg(o *outMsg) {
	o.msg.Subject, o.msg.Data = "", nil
	outMsgs.Put(o)
}

// validatePublish checks a topic to publish on: what every broker refuses
// ([broker.ValidateTopic]), empty subject tokens ("a..b", "a.") and the
// wildcard tokens "*" and ">", which cannot be published to. It runs on
// every Publish, so plain ASCII topics take a fast path.
func validatePublish(topic string) error {
	if topic == "" {
		return fmt.Errorf("%w: empty", broker.ErrInvalidTopic)
	}
	start, ascii := 0, true
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if c >= 0x80 {
			ascii = false
			continue
		}
		if c <= ' ' || c == 0x7f {
			return fmt.Errorf("%w: %q holds white space or a control character", broker.ErrInvalidTopic, topic)
		}
		if c == '.' {
			if err := checkToken(topic, topic[start:i], false); err != nil {
				return err
			}
			start = i + 1
		}
	}
	if !ascii {
		if err := broker.ValidateTopic(topic); err != nil {
			return err
		}
	}
	return checkToken(topic, topic[start:], false)
}

// validateSubscribe checks a topic to subscribe to: like validatePublish,
// but "*" may stand for any one token and a last token ">" for one or more.
func validateSubscribe(topic string) error {
	if err := broker.ValidateTopic(topic); err != nil {
		return err
	}
	tokens := strings.Split(topic, ".")
	for i, tok := range tokens {
		if tok == ">" && i < len(tokens)-1 {
			return fmt.Errorf("%w: %q has \">\" before its last token", broker.ErrInvalidTopic, topic)
		}
		if err := checkToken(topic, tok, true); err != nil {
			return err
		}
	}
	return nil
}

func checkToken(topic, tok string, wildcards bool) error {
	switch {
	case tok == "":
		return fmt.Errorf("%w: %q has an empty subject token", broker.ErrInvalidTopic, topic)
	case !wildcards && (tok == "*" || tok == ">"):
		return fmt.Errorf("%w: cannot publish to the wildcard subject %q", broker.ErrInvalidTopic, topic)
	}
	return nil
}

// validateQueue checks a queue group name: NATS refuses white space in it,
// and it names the JetStream consumer.
func validateQueue(q string) error {
	for _, r := range q {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("%w: %q", ErrInvalidQueue, q)
		}
	}
	return nil
}

// consumerName derives a JetStream consumer name from a base (the queue
// group or the Durable option) and the subject: the base and the subject
// made safe for a name and shortened, then a hash of both, so distinct
// pairs never share a name and the same pair always gets the same one.
func consumerName(base, subject string) string {
	h := fnv.New64a()
	h.Write([]byte(base))
	h.Write([]byte{0})
	h.Write([]byte(subject))
	return fmt.Sprintf("%s_%s_%016x", safeName(base, 64), safeName(subject, 64), h.Sum64())
}

// safeName keeps letters, digits, '-' and '_' of s (others become '_') and
// at most n bytes.
func safeName(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < n; i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// subsetOfAny reports whether some filter covers every subject that
// subject (which may hold wildcards) matches.
func subsetOfAny(subject string, filters []string) bool {
	for _, f := range filters {
		if subsetOf(subject, f) {
			return true
		}
	}
	return false
}

// subsetOf reports whether filter covers every subject that subject
// matches: "*" in filter covers any one token, a last ">" one or more.
func subsetOf(subject, filter string) bool {
	st, ft := strings.Split(subject, "."), strings.Split(filter, ".")
	for i, f := range ft {
		if f == ">" && i == len(ft)-1 {
			return i < len(st)
		}
		if i >= len(st) || st[i] == ">" {
			return false
		}
		if f != "*" && st[i] != f {
			return false
		}
	}
	return len(st) == len(ft)
}
