package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ContentType marks a delivery request in the wire form below.
const ContentType = "application/vnd.micro.broker.v1"

// The body of a delivery request is one line of JSON holding the topic and
// the message header, a newline, and then the message body as raw bytes:
//
//	{"topic":"orders","header":{"Id":"42"}}\n<body bytes>
//
// JSON never holds a raw newline, so the first newline ends the meta line.
type meta struct {
	Topic  string            `json:"topic"`
	Header map[string]string `json:"header,omitempty"`
}

var errMalformed = errors.New("broker/http: malformed request")

// encode renders one delivery request body.
func encode(topic string, header map[string]string, body []byte) ([]byte, error) {
	m, err := json.Marshal(meta{Topic: topic, Header: header})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(m)+1+len(body))
	out = append(out, m...)
	out = append(out, '\n')
	return append(out, body...), nil
}

// decode parses a delivery request body; the body it returns aliases data.
func decode(data []byte) (topic string, header map[string]string, body []byte, err error) {
	line, body, ok := bytes.Cut(data, []byte{'\n'})
	if !ok {
		return "", nil, nil, fmt.Errorf("%w: no meta line", errMalformed)
	}
	var m meta
	if err := json.Unmarshal(line, &m); err != nil {
		return "", nil, nil, fmt.Errorf("%w: meta line: %w", errMalformed, err)
	}
	if m.Topic == "" {
		return "", nil, nil, fmt.Errorf("%w: no topic", errMalformed)
	}
	return m.Topic, m.Header, body, nil
}
