package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	merrors "github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
)

// registryTimeout bounds one registry call of /registry.
const registryTimeout = 10 * time.Second

// handleRegistry serves /registry: GET looks up, POST registers, DELETE
// deregisters.
func (s *Server) handleRegistry(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.getRegistry(w, r)
	case http.MethodPost:
		s.changeRegistry(w, r, true)
	case http.MethodDelete:
		s.changeRegistry(w, r, false)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeError(w, r, merrors.MethodNotAllowed(errorID,
			"sidecar: %s /registry: use GET to look up, POST to register, DELETE to deregister", r.Method))
	}
}

// getRegistry answers GET /registry?service=NAME with the service's
// records, and GET /registry with the list of services.
func (s *Server) getRegistry(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), registryTimeout)
	defer cancel()
	reg := s.opts.registry
	q := r.URL.Query()
	var (
		services []*registry.Service
		err      error
	)
	if q.Has("service") {
		name := q.Get("service")
		if name == "" {
			writeError(w, r, merrors.BadRequest(errorID, "sidecar: GET /registry: empty service name; leave service out to list every service"))
			return
		}
		services, err = reg.GetService(ctx, name)
	} else {
		services, err = reg.ListServices(ctx)
	}
	if err != nil {
		writeError(w, r, registryError("looking up", err))
		return
	}
	if services == nil {
		services = []*registry.Service{}
	}
	writeJSON(w, http.StatusOK, services)
}

// changeRegistry answers POST /registry (register) and DELETE /registry
// (deregister), whose body is a registry.Service as JSON.
func (s *Server) changeRegistry(w http.ResponseWriter, r *http.Request, register bool) {
	op := "deregistering"
	if register {
		op = "registering"
	}
	var ropts []registry.RegisterOption
	if register && r.URL.Query().Has("ttl") {
		ttl, err := parseTTL(r.URL.Query().Get("ttl"))
		if err != nil {
			writeError(w, r, merrors.BadRequest(errorID, "sidecar: POST /registry: %v", err))
			return
		}
		ropts = append(ropts, registry.RegisterTTL(ttl))
	}
	svc, err := decodeService(w, r, s.opts.maxBody)
	if err != nil {
		writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), registryTimeout)
	defer cancel()
	if register {
		err = s.opts.registry.Register(ctx, svc, ropts...)
	} else {
		err = s.opts.registry.Deregister(ctx, svc)
	}
	if err != nil {
		writeError(w, r, registryError(op, err))
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// decodeService reads the body of r as one registry.Service in JSON and
// validates it with registry.Validate. Its error is an *errors.Error: 413
// for a body over limit bytes, 400 for anything else wrong.
func decodeService(w http.ResponseWriter, r *http.Request, limit int64) (*registry.Service, error) {
	where := "sidecar: " + r.Method + " /registry"
	if r.ContentLength > limit {
		return nil, merrors.RequestEntityTooLarge(errorID, "%s: body of %d bytes is over the limit of %d", where, r.ContentLength, limit)
	}
	svc, err := readService(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, merrors.RequestEntityTooLarge(errorID, "%s: body over the limit of %d bytes", where, mbe.Limit)
		}
		return nil, merrors.BadRequest(errorID, "%s: %v", where, err)
	}
	return svc, nil
}

// readService decodes exactly one JSON registry.Service from body and
// validates it. Its errors read well after "sidecar: POST /registry: ".
func readService(body io.Reader) (*registry.Service, error) {
	dec := json.NewDecoder(body)
	var svc *registry.Service
	if err := dec.Decode(&svc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty body: want a registry service as JSON, such as {\"name\":\"greeter\",\"nodes\":[{\"id\":\"greeter-1\",\"address\":\"127.0.0.1:9090\"}]}")
		}
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil || !isMaxBytes(err) {
			return nil, errors.New("malformed JSON: data after the service")
		}
		return nil, err
	}
	if err := registry.Validate(svc); err != nil {
		return nil, err
	}
	return svc, nil
}

func isMaxBytes(err error) bool {
	_, ok := errors.AsType[*http.MaxBytesError](err)
	return ok
}

// parseTTL reads the ttl query parameter: a Go duration ("30s") or whole
// seconds ("30"); 0 means no expiry.
func parseTTL(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.ParseInt(s, 10, 64)
		if nerr != nil || n > int64(time.Duration(1<<63-1)/time.Second) {
			return 0, fmt.Errorf("ttl %q: want a duration such as 30s, or whole seconds", s)
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return 0, fmt.Errorf("ttl %q: want 0 (no expiry) or more", s)
	}
	return d, nil
}

// registryError turns a registry's error into what /registry answers: 404
// for an unknown service, 400 for an invalid one, and 503 for the rest,
// which mean the registry cannot be used now.
func registryError(op string, err error) error {
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return merrors.NotFound(errorID, "sidecar: %s: %v", op, err)
	case errors.Is(err, registry.ErrInvalidService):
		return merrors.BadRequest(errorID, "sidecar: %s: %v", op, err)
	}
	return merrors.ServiceUnavailable(errorID, "sidecar: %s: the registry is unavailable: %v", op, err)
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}
