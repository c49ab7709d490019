package rabbitmq

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/broker"
)

// This file holds what crosses the wire: addresses, names, and the mapping
// between broker messages and AMQP messages.

// defaultTLSAddr is dialled with broker.TLS and no broker.Addrs.
const defaultTLSAddr = "amqps://guest:guest@127.0.0.1:5671/"

// normalizeAddr turns a broker address into an AMQP URL: "host:port"
// becomes "amqp://host:port" (guest/guest, vhost "/"); with useTLS an
// amqp:// URL becomes amqps://. The URL must parse as an AMQP URI.
func normalizeAddr(addr string, useTLS bool) (string, error) {
	a := strings.TrimSpace(addr)
	switch {
	case a == "" && useTLS:
		a = defaultTLSAddr
	case a == "":
		a = DefaultAddr
	case a == DefaultAddr && useTLS:
		a = defaultTLSAddr
	case !strings.Contains(a, "://"):
		a = "amqp://" + a
	}
	if useTLS {
		if rest, ok := cutPrefixFold(a, "amqp://"); ok {
			a = "amqps://" + rest
		}
	}
	if _, err := amqp.ParseURI(a); err != nil {
		// The URL may hold a password: report the error without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("%w: address %s: %v (want amqp://user:pass@host:port/vhost, amqps://... or host:port)",
			errOption, hostOf(a), err)
	}
	return a, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// hostOf names a URL that failed to parse by its scheme and host alone.
func hostOf(addr string) string {
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return "(unparsable)"
	}
	return u.Scheme + "://" + u.Host
}

// redact returns an address fit for logs: without its password.
func redact(addr string) string {
	u, err := url.Parse(addr)
	if err != nil {
		return "(unparsable address)"
	}
	return u.Redacted()
}

// checkTopic validates a topic: the broker's rules, and the AMQP limit on
// routing keys.
func checkTopic(topic string) error {
	if err := broker.ValidateTopic(topic); err != nil {
		return err
	}
	if len(topic) > maxShortstr {
		return fmt.Errorf("%w: %d bytes, the AMQP limit is %d", broker.ErrInvalidTopic, len(topic), maxShortstr)
	}
	return nil
}

// checkGroup validates a queue group name ("" is none).
func checkGroup(group string) error {
	switch {
	case group == "":
		return nil
	case !utf8.ValidString(group):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidQueue, group)
	case len(group) > maxShortstr:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidQueue, len(group), maxShortstr)
	}
	for _, r := range group {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("%w: %q holds white space or a control character", ErrInvalidQueue, group)
		}
	}
	return nil
}

// groupQueueName names the durable queue shared by the members of a queue
// group: "exchange:topic:group" when that is unambiguous (no part holds ':'
// or '~'), fits the 255 bytes of an AMQP name and does not take the
// server's reserved "amq." prefix. Otherwise it is a readable prefix of that
// name (made valid UTF-8) followed by '~' and 16 hex digits of a hash of the three parts, so
// distinct (exchange, topic, group) triples get distinct queues.
func groupQueueName(exchange, topic, group string) string {
	plain := exchange + ":" + topic + ":" + group
	if len(plain) <= maxShortstr && !strings.HasPrefix(plain, "amq.") && utf8.ValidString(plain) &&
		!strings.ContainsAny(exchange+topic+group, ":~") {
		return plain
	}
	h := sha256.New()
	for _, p := range []string{exchange, topic, group} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	suffix := "~" + hex.EncodeToString(h.Sum(nil)[:8])
	head := plain
	if strings.HasPrefix(head, "amq.") {
		head = "_" + head
	}
	head = truncateUTF8(head, maxShortstr-len(suffix))
	return head + suffix
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune, and
// replaces invalid bytes so the result is valid UTF-8.
func truncateUTF8(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// toPublishing builds the AMQP message for m: its header as AMQP headers
// (Content-Type also as the content-type property), its body as the body.
func toPublishing(m *broker.Message, id string, persistent bool) (amqp.Publishing, error) {
	p := amqp.Publishing{
		MessageId: id,
		Timestamp: time.Now(),
		Body:      m.Body,
	}
	if persistent {
		p.DeliveryMode = amqp.Persistent
	} else {
		p.DeliveryMode = amqp.Transient
	}
	if len(m.Header) > 0 {
		p.Headers = make(amqp.Table, len(m.Header))
		for k, v := range m.Header {
			if len(k) > maxShortstr {
				return p, fmt.Errorf("%w: name of %d bytes, the AMQP limit is %d", ErrInvalidHeader, len(k), maxShortstr)
			}
			p.Headers[k] = v
		}
		if ct := m.Header["Content-Type"]; len(ct) <= maxShortstr {
			p.ContentType = ct
		}
	}
	return p, nil
}

// toMessage builds the broker message for a delivery: its AMQP headers as
// the header (see headerValue) and its content-type property as
// Content-Type when no header carries it.
func toMessage(d *amqp.Delivery) *broker.Message {
	h := make(map[string]string, len(d.Headers)+1)
	for k, v := range d.Headers {
		if s, ok := headerValue(v); ok {
			h[k] = s
		}
	}
	if _, ok := h["Content-Type"]; !ok && d.ContentType != "" {
		h["Content-Type"] = d.ContentType
	}
	return &broker.Message{Header: h, Body: d.Body}
}

// headerValue renders one AMQP header value as a string. Strings and bytes
// are taken as they are, numbers, booleans, decimals and timestamps in
// their usual text form, and a void value as "". Tables and arrays (such
// as the server's x-death) have no string form and are left out.
func headerValue(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case []byte:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	case int8:
		return strconv.FormatInt(int64(x), 10), true
	case int16:
		return strconv.FormatInt(int64(x), 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int:
		return strconv.FormatInt(int64(x), 10), true
	case uint8:
		return strconv.FormatUint(uint64(x), 10), true
	case uint16:
		return strconv.FormatUint(uint64(x), 10), true
	case uint32:
		return strconv.FormatUint(uint64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case time.Time:
		return x.UTC().Format(time.RFC3339), true
	case amqp.Decimal:
		return formatDecimal(x), true
	}
	return "", false
}

// formatDecimal renders value × 10^-scale exactly.
func formatDecimal(d amqp.Decimal) string {
	neg := d.Value < 0
	digits := strconv.FormatUint(absInt32(d.Value), 10)
	if d.Scale > 0 {
		scale := int(d.Scale)
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

func absInt32(v int32) uint64 {
	if v < 0 {
		return uint64(-int64(v))
	}
	return uint64(v)
}

// deliveryCount reads the server's count of earlier deliveries of a
// message (the x-delivery-count header of quorum queues).
func deliveryCount(h amqp.Table) (int64, bool) {
	var n int64
	switch x := h["x-delivery-count"].(type) {
	case int8:
		n = int64(x)
	case int16:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	case int:
		n = int64(x)
	case uint8:
		n = int64(x)
	case uint16:
		n = int64(x)
	case uint32:
		n = int64(x)
	case uint64:
		if x > math.MaxInt64 {
			return math.MaxInt64, true
		}
		n = int64(x)
	default:
		return 0, false
	}
	if n < 0 {
		return 0, false
	}
	return n, true
}

// deliveryKey identifies a message across its redeliveries: its message id
// when it has one (the broker always sets one), else a hash of its routing
// key and body.
func deliveryKey(d *amqp.Delivery) string {
	if d.MessageId != "" {
		return "i" + d.MessageId
	}
	h := fnv.New128a()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(d.RoutingKey)))
	h.Write(n[:])
	h.Write([]byte(d.RoutingKey))
	h.Write(d.Body)
	return "h" + hex.EncodeToString(h.Sum(nil))
}
