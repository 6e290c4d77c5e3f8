package onion

// TorPID returns the process ID of the tor the Service started and uses
// now, or 0 between restarts or with ControlAddr.
func (s *Service) TorPID() int { return s.pid() }

// Publications returns how many times the Service has published its
// descriptor: once at Start and once after each tor restart.
func (s *Service) Publications() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.publications
}
