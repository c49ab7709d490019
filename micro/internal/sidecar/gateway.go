package sidecar

import (
	"net/http"

	"github.com/openmicro/micro/internal/api"
)

// The sidecar shares the API gateway's handlers for /rpc and
// /[service]/[method], its CORS middleware and its error responses.

// writeError writes err as a status and a go-micro errors JSON body.
func writeError(w http.ResponseWriter, r *http.Request, err error) { api.WriteError(w, r, err) }

// cors wraps h with the CORS allow-list.
func (s *Server) cors(h http.Handler) http.Handler { return api.CORS(s.opts.origins)(h) }

// gatewayOptions are the options of the gateway's handlers.
func (s *Server) gatewayOptions() []api.Option {
	o := &s.opts
	opts := []api.Option{
		api.Client(o.client),
		api.Registry(o.registry),
		api.Namespace(o.namespace),
		api.Logger(o.logger),
		api.MaxBodySize(o.maxBody),
	}
	if o.broker != nil {
		opts = append(opts, api.Broker(o.broker))
	}
	if o.requestTimeout > 0 {
		opts = append(opts, api.RequestTimeout(o.requestTimeout))
	}
	return opts
}

// rpcHandler serves POST /rpc.
func (s *Server) rpcHandler() http.Handler { return api.RPCHandler(s.gatewayOptions()...) }

// callHandler serves /[service]/[method].
func (s *Server) callHandler() http.Handler { return api.CallHandler(s.gatewayOptions()...) }
