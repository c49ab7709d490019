package registry

import "maps"

// Copy returns a deep copy of s: changing the copy, its nodes, endpoints or
// maps never changes s. Copy(nil) is nil.
func Copy(s *Service) *Service {
	if s == nil {
		return nil
	}
	c := &Service{
		Name:     s.Name,
		Version:  s.Version,
		Metadata: maps.Clone(s.Metadata),
	}
	if s.Nodes != nil {
		c.Nodes = make([]*Node, len(s.Nodes))
		for i, n := range s.Nodes {
			c.Nodes[i] = CopyNode(n)
		}
	}
	if s.Endpoints != nil {
		c.Endpoints = make([]*Endpoint, len(s.Endpoints))
		for i, e := range s.Endpoints {
			if e == nil {
				continue
			}
			c.Endpoints[i] = &Endpoint{
				Name:     e.Name,
				Request:  CopyValue(e.Request),
				Response: CopyValue(e.Response),
				Metadata: maps.Clone(e.Metadata),
			}
		}
	}
	return c
}

// CopyServices deep-copies each service in ss.
func CopyServices(ss []*Service) []*Service {
	if ss == nil {
		return nil
	}
	c := make([]*Service, len(ss))
	for i, s := range ss {
		c[i] = Copy(s)
	}
	return c
}

// CopyNode returns a deep copy of n.
func CopyNode(n *Node) *Node {
	if n == nil {
		return nil
	}
	return &Node{Id: n.Id, Address: n.Address, Metadata: maps.Clone(n.Metadata)}
}

// CopyValue returns a deep copy of v.
func CopyValue(v *Value) *Value {
	if v == nil {
		return nil
	}
	c := &Value{Name: v.Name, Type: v.Type}
	if v.Values != nil {
		c.Values = make([]*Value, len(v.Values))
		for i, sub := range v.Values {
			c.Values[i] = CopyValue(sub)
		}
	}
	return c
}
