package meta

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// A node records the id of the cluster it belongs to in its metadata
// directory (cluster.id, the id and a newline), once its image holds it.
// From then on the node refuses to take part in a quorum of another id,
// and a controller refuses its requests.

func clusterIDPath(dir string) string { return filepath.Join(dir, "cluster.id") }

func readClusterID(dir string) (string, error) {
	b, err := os.ReadFile(clusterIDPath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("meta: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}

// ClusterID is the node's cluster id: the stored one, else the image's,
// else "".
func (s *Store) ClusterID() string {
	s.idMu.Lock()
	id := s.storedClusterID
	s.idMu.Unlock()
	if id != "" {
		return id
	}
	return s.Image().ClusterID
}

// PersistClusterID writes the image's cluster id to cluster.id if the node
// has none stored yet, and fails if the stored one differs.
func (s *Store) PersistClusterID() error {
	id := s.Image().ClusterID
	if id == "" {
		return errors.New("meta: the image has no cluster id yet")
	}
	s.idMu.Lock()
	defer s.idMu.Unlock()
	switch s.storedClusterID {
	case id:
		return nil
	case "":
	default:
		return fmt.Errorf("%w: %s holds cluster %s in %s, but its metadata log is of cluster %s",
			ErrClusterIDMismatch, nodeName(s.cfg.NodeID), s.storedClusterID, clusterIDPath(s.cfg.Dir), id)
	}
	path := clusterIDPath(s.cfg.Dir)
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, []byte(id+"\n")); err != nil {
		return fmt.Errorf("meta: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("meta: %w", err)
	}
	s.storedClusterID = id
	return nil
}

func writeFileSync(path string, b []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
