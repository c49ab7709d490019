package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	stdjson "encoding/json"
	stderrors "errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/errors"
)

// The headers of an event: Content-Type, Micro-Topic and Micro-Id are
// those go-micro's client.Publish sets; Micro-Time and Micro-Origin are the
// gateway's.
const (
	HeaderContentType = "Content-Type"
	HeaderTopic       = "Micro-Topic"
	HeaderId          = "Micro-Id"
	HeaderTime        = "Micro-Time"
	HeaderOrigin      = "Micro-Origin"
)

// eventHandler publishes the body of POST [prefix][topic] on the broker;
// "/" in the topic's part of the path becomes ".".
func eventHandler(o *options, prefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r, http.MethodPost)
			return
		}
		topic := strings.ReplaceAll(strings.TrimPrefix(r.URL.Path, prefix), "/", ".")
		if topic == "" {
			WriteError(w, r, errors.NotFound(errorId, "no topic in path: use POST %s[topic]", prefix))
			return
		}
		if err := broker.ValidateTopic(topic); err != nil {
			WriteError(w, r, errors.BadRequest(errorId, "%v", err))
			return
		}
		if info := infoOf(w); info != nil {
			info.topic = topic
		}
		if o.broker == nil {
			WriteError(w, r, ErrNoBroker)
			return
		}
		body, err := readBody(w, r, o.maxBody, nil) // the broker may keep it
		if err != nil {
			WriteError(w, r, err)
			return
		}
		ct, err := eventContentType(r.Header.Get("Content-Type"), body)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		id := newId()
		msg := &broker.Message{
			Header: map[string]string{
				HeaderContentType: ct,
				HeaderTopic:       topic,
				HeaderId:          id,
				HeaderTime:        time.Now().UTC().Format(time.RFC3339Nano),
				HeaderOrigin:      r.RemoteAddr,
			},
			Body: body,
		}
		ctx, cancel := context.WithTimeout(r.Context(), o.timeout)
		defer cancel()
		if err := o.broker.Publish(ctx, topic, msg); err != nil {
			WriteError(w, r, publishError(ctx, topic, err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		b, _ := stdjson.Marshal(map[string]string{"id": id, "topic": topic})
		_, _ = w.Write(append(b, '\n'))
	})
}

// eventContentType checks the Content-Type of an event: empty means
// application/json; it must have a go-micro codec (415 otherwise), and a
// JSON body must be valid JSON (400).
func eventContentType(ct string, body []byte) (string, error) {
	if ct == "" {
		ct = "application/json"
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", errors.BadRequest(errorId, "malformed Content-Type %q: %v", ct, err)
	}
	if _, err := codec.Lookup(mt); err != nil {
		return "", errors.UnsupportedMediaType(errorId,
			"Content-Type %q has no go-micro codec, so subscribers could not decode the event: send application/json", ct)
	}
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		if !stdjson.Valid(body) {
			return "", errors.BadRequest(errorId, "malformed JSON body")
		}
	}
	return ct, nil
}

// publishError maps a broker's Publish error; the answer leaves the
// broker's error to the access log.
func publishError(ctx context.Context, topic string, err error) error {
	switch {
	case stderrors.Is(err, broker.ErrInvalidTopic):
		return errors.BadRequest(errorId, "publish to %q: %v", topic, err)
	case ctx.Err() != nil && stderrors.Is(ctx.Err(), context.DeadlineExceeded):
		return hide(errors.GatewayTimeout(errorId, "publish to %q: no answer from the broker in time", topic), err)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return hide(errors.ServiceUnavailable(errorId, "publish to %q: broker unavailable", topic), err)
}

// newId returns a random event id: 16 bytes in hex, as go-micro's ids.
func newId() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
