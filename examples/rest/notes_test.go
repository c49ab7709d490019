package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

// newTestNotes serves a Notes on an httptest server until the test ends.
func newTestNotes(t *testing.T) (*Notes, *httptest.Server) {
	t.Helper()
	n := NewNotes(slog.New(slog.DiscardHandler))
	s := httptest.NewServer(n)
	t.Cleanup(func() {
		n.Close()
		s.Close()
	})
	return n, s
}

func TestNotes(t *testing.T) {
	_, s := newTestNotes(t)
	c := httpClient(t)
	// The steps run in order, on one resource.
	steps := []struct {
		name, method, path, contentType, body string
		wantCode                              int
		wantBody                              string // in the body
		wantHeader                            [2]string
	}{
		{"empty list", "GET", "/rest/notes", "", "", 200, "[]", [2]string{}},
		{"create", "POST", "/rest/notes", "application/json", `{"text":"one"}`, 201, `"text":"one"`, [2]string{"Location", "/rest/notes/1"}},
		{"create without content type", "POST", "/rest/notes", "", `{"text":"two"}`, 201, `"id":2`, [2]string{"Location", "/rest/notes/2"}},
		{"create +json", "POST", "/rest/notes", "application/vnd.notes+json", `{"text":"three"}`, 201, `"id":3`, [2]string{}},
		{"list", "GET", "/rest/notes", "", "", 200, `[{"id":1,"text":"one"`, [2]string{}},
		{"get", "GET", "/rest/notes/2", "", "", 200, `"text":"two"`, [2]string{"Content-Type", "application/json"}},
		{"delete", "DELETE", "/rest/notes/2", "", "", 204, "", [2]string{}},
		{"deleted", "GET", "/rest/notes/2", "", "", 404, `note \"2\" not found`, [2]string{}},
		{"delete again", "DELETE", "/rest/notes/2", "", "", 404, "not found", [2]string{}},
		{"bad id", "GET", "/rest/notes/abc", "", "", 404, `note \"abc\" not found`, [2]string{}},
		{"zero id", "GET", "/rest/notes/0", "", "", 404, "not found", [2]string{}},
		{"no text", "POST", "/rest/notes", "application/json", `{}`, 400, "text is required", [2]string{}},
		{"blank text", "POST", "/rest/notes", "application/json", `{"text":"  "}`, 400, "text is required", [2]string{}},
		{"unknown field", "POST", "/rest/notes", "application/json", `{"text":"x","y":1}`, 400, "not a note", [2]string{}},
		{"two values", "POST", "/rest/notes", "application/json", `{"text":"x"}{}`, 400, "more than one", [2]string{}},
		{"malformed", "POST", "/rest/notes", "application/json", `{"text":`, 400, "not a note", [2]string{}},
		{"long text", "POST", "/rest/notes", "application/json", `{"text":"` + strings.Repeat("x", MaxTextLength+1) + `"}`, 400, "longer than", [2]string{}},
		{"huge body", "POST", "/rest/notes", "application/json", `{"text":"` + strings.Repeat("x", maxBody) + `"}`, 413, "over", [2]string{}},
		{"text/plain", "POST", "/rest/notes", "text/plain", "x", 415, "send application/json", [2]string{}},
		{"bad content type", "POST", "/rest/notes", "application/json; =", `{"text":"x"}`, 400, "Content-Type", [2]string{}},
		{"wrong method", "PUT", "/rest/notes", "", "", 405, "does not take this method", [2]string{"Allow", "GET, HEAD, POST"}},
		{"no such path", "GET", "/rest/other", "", "", 404, "no resource at /rest/other", [2]string{"Content-Type", "application/json"}},
		{"root", "GET", "/", "", "", 404, "no resource at /", [2]string{}},
		{"ws without upgrade", "GET", "/rest/ws", "", "", 400, "is a websocket", [2]string{}},
	}
	for _, st := range steps {
		req, err := http.NewRequestWithContext(t.Context(), st.method, s.URL+st.path, strings.NewReader(st.body))
		if err != nil {
			t.Fatal(err)
		}
		if st.contentType != "" {
			req.Header.Set("Content-Type", st.contentType)
		}
		rsp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		body, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode != st.wantCode || !strings.Contains(string(body), st.wantBody) {
			t.Errorf("%s: %d %s, want %d with %s", st.name, rsp.StatusCode, body, st.wantCode, st.wantBody)
		}
		if st.wantHeader[0] != "" && rsp.Header.Get(st.wantHeader[0]) != st.wantHeader[1] {
			t.Errorf("%s: %s = %q, want %q", st.name, st.wantHeader[0], rsp.Header.Get(st.wantHeader[0]), st.wantHeader[1])
		}
		if rsp.StatusCode != 204 && !json.Valid(body) {
			t.Errorf("%s: body %q is not JSON", st.name, body)
		}
	}
}

func TestNotesFull(t *testing.T) {
	n, s := newTestNotes(t)
	n.mu.Lock()
	for i := range MaxNotes {
		n.notes[i+1] = &Note{ID: i + 1, Text: "x"}
	}
	n.nextID = MaxNotes + 1
	n.mu.Unlock()
	code, _, body := do(t, httpClient(t), "POST", s.URL+"/rest/notes", `{"text":"one too many"}`)
	if code != http.StatusInsufficientStorage || !strings.Contains(body, "delete some") {
		t.Fatalf("POST with %d notes: %d %s, want 507", MaxNotes, code, body)
	}
}

// TestNotesConcurrent creates notes from many goroutines: each gets its
// own id.
func TestNotesConcurrent(t *testing.T) {
	_, s := newTestNotes(t)
	c := httpClient(t)
	const n = 20
	var wg sync.WaitGroup
	ids := make(chan int, n)
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(t.Context(), "POST", s.URL+"/rest/notes", strings.NewReader(fmt.Sprintf(`{"text":"n%d"}`, i)))
			rsp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer rsp.Body.Close()
			var note Note
			if err := json.NewDecoder(rsp.Body).Decode(&note); err != nil {
				t.Error(err)
				return
			}
			ids <- note.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[int]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("id %d given twice", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Errorf("%d notes made, want %d", len(seen), n)
	}
}

func TestEcho(t *testing.T) {
	n, s := newTestNotes(t)
	url := "ws" + strings.TrimPrefix(s.URL, "http") + "/rest/ws"
	conn, _, err := websocket.DefaultDialer.DialContext(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, m := range []string{"a", "", strings.Repeat("é", 1000)} {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := conn.ReadMessage(); err != nil || string(got) != m {
			t.Fatalf("echo of %d bytes: %d bytes, %v", len(m), len(got), err)
		}
	}
	// A message over the limit closes the socket with 1009.
	if err := conn.WriteMessage(websocket.BinaryMessage, make([]byte, maxBody+1)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := conn.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("after a message over %d bytes: %v, want close 1009", maxBody, err)
	}

	// Close ends the open sockets with 1001 and refuses new ones.
	conn2, _, err := websocket.DefaultDialer.DialContext(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	if err := conn2.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := conn2.ReadMessage(); err != nil { // the socket is registered once it echoed
		t.Fatal(err)
	}
	n.Close()
	if _, _, err := conn2.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("after Close: %v, want close 1001", err)
	}
	_, rsp, err := websocket.DefaultDialer.DialContext(t.Context(), url, nil)
	if err == nil || rsp == nil || rsp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after Close: %v, %v; want 503", err, rsp)
	}
	if rsp != nil {
		rsp.Body.Close()
	}
}

// FuzzDecodeNote: any body and Content-Type gives a note text within the
// limits or an error with a 4xx status; nothing panics.
func FuzzDecodeNote(f *testing.F) {
	f.Add("application/json", `{"text":"hi"}`)
	f.Add("", `{"text":"hi"}{}`)
	f.Add("application/json; charset=utf-8", `{"text":null}`)
	f.Add("text/plain", "hi")
	f.Add("application/json; =", "")
	f.Add("application/json", `{"text":"\ud800"}`)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		text, code, err := decodeNote(contentType, strings.NewReader(body))
		if err != nil {
			if code < 400 || code > 499 {
				t.Fatalf("error %v with status %d", err, code)
			}
			return
		}
		if strings.TrimSpace(text) == "" || len(text) > MaxTextLength {
			t.Fatalf("accepted text %q", text)
		}
	})
}
