// Package images uploads reward and store images to S3 and points image_url at them. An
// object's key names the sha256 of its content (<kind>/<name>-<sha256>.<ext>), so an object
// is never overwritten with other content: an unchanged file is not uploaded again, a changed
// image is never served stale from a cache, and a run that fails part-way leaves every live
// image_url pointing at the object it pointed at, as it was.
package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Kind is what the images are of: rewards are named by id, stores by code.
type Kind string

const (
	Rewards Kind = "rewards"
	Stores  Kind = "stores"
)

// Extensions are the image types accepted, with the content type each must sniff as.
var Extensions = map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp", ".gif": "image/gif"}

// Uploader puts images in Bucket and sets image_url to BaseURL + "/" + key.
type Uploader struct {
	S3      *s3.Client
	Bucket  string
	BaseURL string
	DB      *pgxpool.Pool
}

// File is one image of the directory.
type File struct {
	Path        string `json:"path"`
	Name        string `json:"name"` // the reward id or store code
	Key         string `json:"key"`
	ContentType string `json:"content_type"`
	SHA256      string `json:"sha256"`
	URL         string `json:"url"`
	Uploaded    bool   `json:"uploaded"` // false: S3 already held this content
	URLChanged  bool   `json:"url_changed"`
	data        []byte
}

// Problem is a file that cannot be uploaded; nothing is uploaded while there is one.
type Problem struct {
	Path string `json:"path"`
	Msg  string `json:"message"`
}

// InvalidError lists every problem with the directory.
type InvalidError struct{ Problems []Problem }

func (e *InvalidError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Path + ": " + p.Msg
	}
	return fmt.Sprintf("%d problems, nothing uploaded:\n%s", len(e.Problems), strings.Join(msgs, "\n"))
}
func (e *InvalidError) ErrorCode() string { return "invalid_images" }

// Details are the problems, for --json.
func (e *InvalidError) Details() any { return e.Problems }

// Scan reads and checks every image of dir against the database.
func (u Uploader) Scan(ctx context.Context, dir string, kind Kind) ([]*File, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []*File
	var problems []Problem
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || strings.EqualFold(e.Name(), "README.md") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		ext := strings.ToLower(filepath.Ext(e.Name()))
		want, ok := Extensions[ext]
		if !ok {
			problems = append(problems, Problem{path, fmt.Sprintf("%s is not an image type the apps show (png, jpg, webp, gif)", ext)})
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			problems = append(problems, Problem{path, err.Error()})
			continue
		}
		if got := http.DetectContentType(data); got != want {
			problems = append(problems, Problem{path, fmt.Sprintf("the content is %s, not %s as its name says", got, want)})
			continue
		}
		name := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
		if kind == Rewards {
			if _, err := uuid.Parse(name); err != nil {
				problems = append(problems, Problem{path, "a reward image is named <reward id>" + ext})
				continue
			}
		}
		sum := sha256.Sum256(data)
		f := &File{Path: path, Name: name, ContentType: mime.TypeByExtension(ext), SHA256: hex.EncodeToString(sum[:]), data: data}
		if f.ContentType == "" {
			f.ContentType = want
		}
		f.Key = string(kind) + "/" + name + "-" + f.SHA256 + ext
		f.URL = strings.TrimRight(u.BaseURL, "/") + "/" + f.Key
		files = append(files, f)
	}
	seen := map[string]string{}
	for _, f := range files {
		if other, dup := seen[f.Name]; dup {
			problems = append(problems, Problem{f.Path, "is the same " + string(kind) + " as " + other})
		}
		seen[f.Name] = f.Path
	}
	known, err := u.known(ctx, kind, files)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if !slices.Contains(known, f.Name) {
			problems = append(problems, Problem{f.Path, fmt.Sprintf("no %s is %s", strings.TrimSuffix(string(kind), "s"), f.Name)})
		}
	}
	if len(problems) > 0 {
		sort.Slice(problems, func(i, j int) bool { return problems[i].Path < problems[j].Path })
		return nil, &InvalidError{problems}
	}
	return files, nil
}

func (u Uploader) known(ctx context.Context, kind Kind, files []*File) ([]string, error) {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	sql := `SELECT code FROM stores WHERE code = ANY($1)`
	if kind == Rewards {
		sql = `SELECT id::text FROM rewards WHERE id::text = ANY($1)`
	}
	rows, err := u.DB.Query(ctx, sql, names)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Upload puts each file whose content S3 does not hold yet under its own key (progress is
// called after each), then sets every image_url in one transaction. A failed upload leaves the
// database as it was, and no object a live image_url points at was touched: the new ones are
// under new keys.
func (u Uploader) Upload(ctx context.Context, kind Kind, files []*File, progress func()) error {
	for _, f := range files {
		head, err := u.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &u.Bucket, Key: &f.Key})
		var nf *s3types.NotFound
		switch {
		case err == nil && head.Metadata["sha256"] == f.SHA256:
		case err == nil || errors.As(err, &nf):
			_, err = u.S3.PutObject(ctx, &s3.PutObjectInput{
				Bucket: &u.Bucket, Key: &f.Key, Body: bytes.NewReader(f.data), ContentType: &f.ContentType,
				ContentLength: aws.Int64(int64(len(f.data))),
				CacheControl:  aws.String("public, max-age=31536000, immutable"),
				Metadata:      map[string]string{"sha256": f.SHA256},
			})
			if err != nil {
				return fmt.Errorf("%s: upload to s3://%s/%s: %w", f.Path, u.Bucket, f.Key, err)
			}
			f.Uploaded = true
		default:
			return fmt.Errorf("%s: s3://%s/%s: %w", f.Path, u.Bucket, f.Key, err)
		}
		if progress != nil {
			progress()
		}
	}
	return pgx.BeginFunc(ctx, u.DB, func(tx pgx.Tx) error {
		sql := `UPDATE stores SET image_url = $2 WHERE code = $1 AND image_url IS DISTINCT FROM $2`
		if kind == Rewards {
			sql = `UPDATE rewards SET image_url = $2 WHERE id = $1::uuid AND image_url IS DISTINCT FROM $2`
		}
		for _, f := range files {
			tag, err := tx.Exec(ctx, sql, f.Name, f.URL)
			if err != nil {
				return fmt.Errorf("%s: set image_url: %w", f.Path, err)
			}
			f.URLChanged = tag.RowsAffected() == 1
		}
		return nil
	})
}
