package onion

// TorPID returns the process ID of the tor the Service started and uses
// now, or 0 between restarts or with ControlAddr.
func (s *Service) TorPID() int { return s.pid() }
