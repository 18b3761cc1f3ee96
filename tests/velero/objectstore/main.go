// Command velero-plugin-kubecompass-directory is a Velero object-store plugin for tests: a bucket is a directory
// under the location's config "root", an object a file under it. Production uses the provider's plugin
// (velero-plugin-for-aws, -gcp, -microsoft-azure); this one exists so the test suite runs real Velero without a
// cloud. A bucket directory that does not exist is an error on every call (never created on demand), so removing
// it makes the BackupStorageLocation Unavailable for real.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework"
)

// ProviderName is what a BackupStorageLocation names in spec.provider.
const ProviderName = "kubecompass.test/directory"

func main() {
	framework.NewServer().
		RegisterObjectStore(ProviderName, func(logger logrus.FieldLogger) (any, error) {
			return &directoryStore{log: logger}, nil
		}).
		Serve()
}

type directoryStore struct {
	log  logrus.FieldLogger
	root string
}

func (s *directoryStore) Init(config map[string]string) error {
	root := config["root"]
	if root == "" || !filepath.IsAbs(root) {
		return fmt.Errorf("config.root must be an absolute directory path, got %q", root)
	}
	s.root = filepath.Clean(root)
	return nil
}

// bucketDir is the bucket's directory; it must exist.
func (s *directoryStore) bucketDir(bucket string) (string, error) {
	if bucket == "" || strings.ContainsAny(bucket, `/\`) || bucket == "." || bucket == ".." {
		return "", fmt.Errorf("invalid bucket name %q", bucket)
	}
	dir := filepath.Join(s.root, bucket)
	info, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("bucket %q: %w", bucket, err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("bucket %q: %s is not a directory", bucket, dir)
	}
	return dir, nil
}

// objectPath maps a key to a file inside the bucket, refusing keys that leave it.
func (s *directoryStore) objectPath(bucket, key string) (string, error) {
	dir, err := s.bucketDir(bucket)
	if err != nil {
		return "", err
	}
	clean := filepath.Clean("/" + key)
	if key == "" || clean == "/" || strings.HasSuffix(key, "/") {
		return "", fmt.Errorf("invalid object key %q", key)
	}
	return filepath.Join(dir, clean), nil
}

func (s *directoryStore) PutObject(bucket, key string, body io.Reader) error {
	path, err := s.objectPath(bucket, key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".put-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func (s *directoryStore) ObjectExists(bucket, key string) (bool, error) {
	path, err := s.objectPath(bucket, key)
	if err != nil {
		return false, err
	}
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return info.Mode().IsRegular(), nil
}

func (s *directoryStore) GetObject(bucket, key string) (io.ReadCloser, error) {
	path, err := s.objectPath(bucket, key)
	if err != nil {
		return nil, err
	}
	return os.Open(path)
}

// keys lists every object key in the bucket that starts with prefix, sorted.
func (s *directoryStore) keys(bucket, prefix string) ([]string, error) {
	dir, err := s.bucketDir(bucket)
	if err != nil {
		return nil, err
	}
	var keys []string
	err = filepath.WalkDir(dir, func(path string, entry fs.DirEntry, walkErr error) error {
		if walkErr != nil {
			return walkErr
		}
		if !entry.Type().IsRegular() || strings.HasPrefix(entry.Name(), ".put-") {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	sort.Strings(keys)
	return keys, err
}

func (s *directoryStore) ListCommonPrefixes(bucket, prefix, delimiter string) ([]string, error) {
	keys, err := s.keys(bucket, prefix)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var prefixes []string
	for _, key := range keys {
		rest := key[len(prefix):]
		if i := strings.Index(rest, delimiter); delimiter != "" && i >= 0 {
			common := prefix + rest[:i+len(delimiter)]
			if !seen[common] {
				seen[common] = true
				prefixes = append(prefixes, common)
			}
		}
	}
	return prefixes, nil
}

func (s *directoryStore) ListObjects(bucket, prefix string) ([]string, error) {
	return s.keys(bucket, prefix)
}

func (s *directoryStore) DeleteObject(bucket, key string) error {
	path, err := s.objectPath(bucket, key)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Drop directories the deletion left empty, as an object store has no empty "directories".
	dir, _ := s.bucketDir(bucket)
	for parent := filepath.Dir(path); parent != dir && strings.HasPrefix(parent, dir); parent = filepath.Dir(parent) {
		if os.Remove(parent) != nil {
			break
		}
	}
	return nil
}

func (s *directoryStore) CreateSignedURL(bucket, key string, _ time.Duration) (string, error) {
	path, err := s.objectPath(bucket, key)
	if err != nil {
		return "", err
	}
	return "file://" + path, nil
}
