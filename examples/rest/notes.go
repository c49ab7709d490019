package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// Limits of the notes resource.
const (
	// MaxTextLength is the longest note, in bytes.
	MaxTextLength = 1024
	// MaxNotes is how many notes are kept; a POST beyond it is refused
	// with 507.
	MaxNotes = 1000
	// maxBody bounds a request body, and a websocket message.
	maxBody = 64 << 10
	// wsWriteWait bounds writing one websocket frame.
	wsWriteWait = 10 * time.Second
)

// Note is one note of the resource.
type Note struct {
	ID      int       `json:"id"`
	Text    string    `json:"text"`
	Created time.Time `json:"created"`
}

// newNote is the body of POST /rest/notes.
type newNote struct {
	Text *string `json:"text"`
}

// apiError is the body of every error the service answers.
type apiError struct {
	Error string `json:"error"`
}

// Notes serves the REST resource and the websocket echo under [Prefix]:
//
//	GET    /rest/notes       200, every note, oldest first
//	POST   /rest/notes       201 with Location, {"text": "..."} as JSON
//	GET    /rest/notes/{id}  200, or 404
//	DELETE /rest/notes/{id}  204, or 404
//	GET    /rest/ws          websocket: every message is sent back as it came
//
// Every other path is a 404, and another method on these paths a 405 with
// Allow; errors are JSON {"error": "..."}. A Notes is safe for concurrent
// use; [Notes.Close] ends the open websockets.
type Notes struct {
	log      *slog.Logger
	mux      *http.ServeMux
	upgrader websocket.Upgrader

	mu     sync.Mutex
	notes  map[int]*Note
	nextID int

	wsMu     sync.Mutex
	wsClosed bool
	ws       map[*websocket.Conn]struct{}
	wsWG     sync.WaitGroup
}

// NewNotes returns an empty resource that logs to log.
func NewNotes(log *slog.Logger) *Notes {
	n := &Notes{
		log:    log,
		mux:    http.NewServeMux(),
		notes:  make(map[int]*Note),
		nextID: 1,
		ws:     make(map[*websocket.Conn]struct{}),
		// The default origin check: a browser page may open the socket
		// only from the host it addresses.
		upgrader: websocket.Upgrader{},
	}
	n.mux.HandleFunc("GET "+Prefix+"/notes", n.list)
	n.mux.HandleFunc("POST "+Prefix+"/notes", n.create)
	n.mux.HandleFunc("GET "+Prefix+"/notes/{id}", n.get)
	n.mux.HandleFunc("DELETE "+Prefix+"/notes/{id}", n.delete)
	n.mux.HandleFunc("GET "+Prefix+"/ws", n.echo)
	return n
}

// ServeHTTP serves the resource.
func (n *Notes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := n.mux.Handler(r); pattern == "" {
		// ServeMux's own answers (404, and 405 with Allow) are plain
		// text: give them the JSON body every other error has.
		jsonErrors(n.mux, r.URL.Path).ServeHTTP(w, r)
		return
	}
	n.mux.ServeHTTP(w, r)
}

// jsonErrors rewrites the body of a 404 or 405 that h answers as JSON,
// keeping its headers (Allow).
func jsonErrors(h http.Handler, path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&errorRewriter{ResponseWriter: w, path: path}, r)
	})
}

// errorRewriter is the ResponseWriter of jsonErrors.
type errorRewriter struct {
	http.ResponseWriter
	path     string
	replaced bool
}

func (e *errorRewriter) WriteHeader(code int) {
	var msg string
	switch code {
	case http.StatusNotFound:
		msg = fmt.Sprintf("rest: no resource at %s", e.path)
	case http.StatusMethodNotAllowed:
		msg = fmt.Sprintf("rest: %s does not take this method; see the Allow header", e.path)
	default:
		e.ResponseWriter.WriteHeader(code)
		return
	}
	e.replaced = true
	e.Header().Del("X-Content-Type-Options")
	writeJSON(e.ResponseWriter, code, apiError{Error: msg})
}

func (e *errorRewriter) Write(b []byte) (int, error) {
	if e.replaced {
		return len(b), nil // the plain-text body, replaced
	}
	return e.ResponseWriter.Write(b)
}

func (n *Notes) list(w http.ResponseWriter, _ *http.Request) {
	n.mu.Lock()
	out := make([]Note, 0, len(n.notes))
	for _, note := range n.notes {
		out = append(out, *note)
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b Note) int { return a.ID - b.ID })
	writeJSON(w, http.StatusOK, out)
}

func (n *Notes) create(w http.ResponseWriter, r *http.Request) {
	text, code, err := decodeNote(r.Header.Get("Content-Type"), http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeJSON(w, code, apiError{Error: err.Error()})
		return
	}
	n.mu.Lock()
	if len(n.notes) >= MaxNotes {
		n.mu.Unlock()
		writeJSON(w, http.StatusInsufficientStorage, apiError{Error: fmt.Sprintf("rest: %d notes kept already; delete some", MaxNotes)})
		return
	}
	note := &Note{ID: n.nextID, Text: text, Created: time.Now().UTC()}
	n.nextID++
	n.notes[note.ID] = note
	out := *note
	n.mu.Unlock()
	w.Header().Set("Location", Prefix+"/notes/"+strconv.Itoa(out.ID))
	writeJSON(w, http.StatusCreated, out)
}

// decodeNote reads the text of a new note from a JSON body; on error it
// returns the status to answer with.
func decodeNote(contentType string, body interface{ Read([]byte) (int, error) }) (string, int, error) {
	if contentType != "" {
		kind, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return "", http.StatusBadRequest, fmt.Errorf("rest: Content-Type %q: %w", contentType, err)
		}
		if kind != "application/json" && !strings.HasSuffix(kind, "+json") {
			return "", http.StatusUnsupportedMediaType, fmt.Errorf("rest: Content-Type %q: send application/json", kind)
		}
	}
	var in newNote
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", http.StatusRequestEntityTooLarge, fmt.Errorf("rest: body over %d bytes", mbe.Limit)
		}
		return "", http.StatusBadRequest, fmt.Errorf("rest: the body is not a note, {\"text\": \"...\"}: %w", err)
	}
	if dec.More() {
		return "", http.StatusBadRequest, errors.New("rest: the body holds more than one JSON value")
	}
	switch {
	case in.Text == nil || strings.TrimSpace(*in.Text) == "":
		return "", http.StatusBadRequest, errors.New("rest: text is required")
	case len(*in.Text) > MaxTextLength:
		return "", http.StatusBadRequest, fmt.Errorf("rest: text longer than %d bytes", MaxTextLength)
	case !utf8.ValidString(*in.Text):
		return "", http.StatusBadRequest, errors.New("rest: text is not valid UTF-8")
	}
	return *in.Text, 0, nil
}

// noteID reads the {id} of the path; ok is false when it is no note id.
func noteID(r *http.Request) (int, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	return id, err == nil && id > 0
}

func (n *Notes) get(w http.ResponseWriter, r *http.Request) {
	id, ok := noteID(r)
	n.mu.Lock()
	note, found := n.notes[id]
	var out Note
	if found {
		out = *note
	}
	n.mu.Unlock()
	if !ok || !found {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("rest: note %q not found", r.PathValue("id"))})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Notes) delete(w http.ResponseWriter, r *http.Request) {
	id, ok := noteID(r)
	n.mu.Lock()
	_, found := n.notes[id]
	delete(n.notes, id)
	n.mu.Unlock()
	if !ok || !found {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("rest: note %q not found", r.PathValue("id"))})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// echo serves the websocket echo: each message comes back as it was sent,
// text or binary, until the client closes the socket or [Notes.Close].
func (n *Notes) echo(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "rest: " + Prefix + "/ws is a websocket: open it with a websocket client"})
		return
	}
	n.wsMu.Lock()
	if n.wsClosed {
		n.wsMu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: "rest: stopping"})
		return
	}
	n.wsWG.Add(1)
	n.wsMu.Unlock()
	defer n.wsWG.Done()

	conn, err := n.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	n.wsMu.Lock()
	if n.wsClosed {
		n.wsMu.Unlock()
		_ = conn.Close()
		return
	}
	n.ws[conn] = struct{}{}
	n.wsMu.Unlock()
	defer func() {
		n.wsMu.Lock()
		delete(n.ws, conn)
		n.wsMu.Unlock()
		_ = conn.Close()
	}()

	conn.SetReadLimit(maxBody)
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				n.log.Debug("rest: websocket closed", "remote", r.RemoteAddr, "error", err)
			}
			return
		}
		_ = conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
		if err := conn.WriteMessage(typ, data); err != nil {
			return
		}
	}
}

// Close sends the open websockets a close frame (1001, going away), closes
// them and waits for their handlers to end; new ones are refused with 503.
// The REST handlers are not affected: http.Server.Shutdown waits for them.
func (n *Notes) Close() {
	n.wsMu.Lock()
	n.wsClosed = true
	open := make([]*websocket.Conn, 0, len(n.ws))
	for c := range n.ws {
		open = append(open, c)
	}
	n.wsMu.Unlock()
	for _, c := range open {
		_ = c.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "rest: stopping"), time.Now().Add(time.Second))
		_ = c.Close()
	}
	n.wsWG.Wait()
}

// writeJSON answers with code and v as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
