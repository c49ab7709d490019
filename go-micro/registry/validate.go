package registry

import "fmt"

// Validate reports whether s may be passed to Register or Deregister: it
// needs a name and at least one node, and every node must be non-nil with a
// non-empty id not shared with another node of s. The error wraps
// [ErrInvalidService]. Implementations call it first so that every backend
// rejects the same input.
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
	return nil
}
