package registry

import "fmt"

// Validate reports whether s may be passed to Register or Deregister: it
// needs a name and at least one node, every node must be non-nil with a
// non-empty id not shared with another node of s, and no endpoint's Value
// tree may contain itself (a cycle, which [Copy] and every encoder would
// follow forever). Nil endpoints and nil Values are allowed. The error
// wraps [ErrInvalidService]. Implementations call it first so that every
// backend rejects the same input.
func Validate(s *Service) error {
	if s == nil {
		return fmt.Errorf("%w: nil service", ErrInvalidService)
	}
	if s.Name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidService)
	}
	if len(s.Nodes) == 0 {
		return fmt.Errorf("%w: service %q has no nodes", ErrInvalidService, s.Name)
	}
	seen := make(map[string]struct{}, len(s.Nodes))
	for i, n := range s.Nodes {
		if n == nil {
			return fmt.Errorf("%w: service %q: node %d is nil", ErrInvalidService, s.Name, i)
		}
		if n.Id == "" {
			return fmt.Errorf("%w: service %q: node %d has an empty id", ErrInvalidService, s.Name, i)
		}
		if _, dup := seen[n.Id]; dup {
			return fmt.Errorf("%w: service %q: node id %q given twice", ErrInvalidService, s.Name, n.Id)
		}
		seen[n.Id] = struct{}{}
	}
	state := make(map[*Value]uint8) // 1: on the current path, 2: checked
	for _, e := range s.Endpoints {
		if e == nil {
			continue
		}
		if cyclic(e.Request, state) || cyclic(e.Response, state) {
			return fmt.Errorf("%w: service %q: endpoint %q: a Value contains itself", ErrInvalidService, s.Name, e.Name)
		}
	}
	return nil
}

// cyclic reports whether v reaches itself. Values already checked are not
// walked again, so a tree sharing subtrees costs one visit per Value.
func cyclic(v *Value, state map[*Value]uint8) bool {
	if v == nil {
		return false
	}
	switch state[v] {
	case 1:
		return true
	case 2:
		return false
	}
	state[v] = 1
	for _, sub := range v.Values {
		if cyclic(sub, state) {
			return true
		}
	}
	state[v] = 2
	return false
}
