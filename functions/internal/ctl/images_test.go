package ctl_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"io"
	"maps"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	lt "github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty/loyaltytest"
)

// fakeS3 is an in-process S3 (gofakes3) with the bucket, and a client to read it back.
func (w *world) fakeS3(bucket string) *s3.Client { return w.fakeS3Refusing(bucket, nil) }

// refusingBackend is the in-memory S3 backend refusing the uploads refuse says no to.
type refusingBackend struct {
	*s3mem.Backend
	refuse func(key string) bool
}

func (b refusingBackend) PutObject(bucket, key string, meta map[string]string, in io.Reader, size int64, c *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	if b.refuse != nil && b.refuse(key) {
		return gofakes3.PutObjectResult{}, gofakes3.ErrInternal
	}
	return b.Backend.PutObject(bucket, key, meta, in, size, c)
}

// fakeS3Refusing is fakeS3 whose server fails every upload of a key refuse says yes to.
func (w *world) fakeS3Refusing(bucket string, refuse func(key string) bool) *s3.Client {
	w.t.Helper()
	backend := refusingBackend{s3mem.New(), refuse}
	if err := backend.CreateBucket(bucket); err != nil {
		w.t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	w.t.Cleanup(srv.Close)
	w.t.Setenv("AWS_ACCESS_KEY_ID", "test")
	w.t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	w.vars["S3_BUCKET"], w.vars["S3_ENDPOINT"], w.vars["AWS_REGION"] = bucket, srv.URL, "ap-northeast-1"
	return s3.New(s3.Options{BaseEndpoint: aws.String(srv.URL), UsePathStyle: true, Region: "ap-northeast-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

func pngOf(t *testing.T, c color.RGBA) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range 64 {
		img.Set(i%8, i/8, c)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestImagesAreUploadedOnceWithTheirTypeAndImageURLFollowsTheContent(t *testing.T) {
	w := newWorld(t)
	client := w.fakeS3("kk-images")
	reward := lt.Reward(t, w.db, lt.RewardSpec{})
	lt.Exec(t, w.db, `INSERT INTO stores (code, name) VALUES ('SBY', 'Shibuya')`)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "rewards", reward+".png"), pngOf(t, color.RGBA{R: 200, A: 255}))
	write(t, filepath.Join(dir, "stores", "SBY.png"), pngOf(t, color.RGBA{B: 200, A: 255}))

	w.want(w.run("images", "upload", filepath.Join(dir, "rewards"), "--kind", "rewards"), 0, "1 files: 1 uploaded, 0 unchanged")
	w.want(w.run("images", "upload", filepath.Join(dir, "stores"), "--kind", "stores"), 0, "1 uploaded")
	// The key names the content: <kind>/<name>-<sha256>.<ext>.
	red := sha256.Sum256([]byte(pngOf(t, color.RGBA{R: 200, A: 255})))
	key := "rewards/" + reward + "-" + hex.EncodeToString(red[:]) + ".png"
	head, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("kk-images"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ContentType) != "image/png" || head.Metadata["sha256"] != hex.EncodeToString(red[:]) {
		t.Errorf("object: type %q, metadata %v", aws.ToString(head.ContentType), head.Metadata)
	}
	var url1 string
	if err := w.db.QueryRow(context.Background(), `SELECT image_url FROM rewards WHERE id = $1`, reward).Scan(&url1); err != nil {
		t.Fatal(err)
	}
	if url1 != w.vars["S3_ENDPOINT"]+"/kk-images/"+key {
		t.Errorf("image_url = %q, want the object's address", url1)
	}
	if n := lt.Count(t, w.db, `SELECT count(*) FROM stores WHERE code = 'SBY' AND image_url ~ '/kk-images/stores/SBY-[0-9a-f]{64}\.png$'`); n != 1 {
		t.Error("the store's image_url is not set")
	}

	// Unchanged: nothing is uploaded again and the URL stays.
	w.want(w.run("images", "upload", filepath.Join(dir, "rewards"), "--kind", "rewards"), 0, "0 uploaded, 1 unchanged")
	// Changed: uploaded, and a new URL, so no cache serves the old picture.
	write(t, filepath.Join(dir, "rewards", reward+".png"), pngOf(t, color.RGBA{G: 200, A: 255}))
	w.want(w.run("images", "upload", filepath.Join(dir, "rewards"), "--kind", "rewards", "--json"), 0, `"uploaded": true`, `"url_changed": true`)
	if n := lt.Count(t, w.db, `SELECT count(*) FROM rewards WHERE id = $1 AND image_url <> $2`, reward, url1); n != 1 {
		t.Error("image_url did not change with the content")
	}
}

func TestAnImageDirectoryWithAProblemUploadsNothing(t *testing.T) {
	w := newWorld(t)
	client := w.fakeS3("kk-images")
	reward := lt.Reward(t, w.db, lt.RewardSpec{})
	dir := t.TempDir()
	write(t, filepath.Join(dir, reward+".png"), pngOf(t, color.RGBA{R: 1, A: 255}))
	write(t, filepath.Join(dir, "00000000-0000-4000-8000-0000000000ff.png"), pngOf(t, color.RGBA{R: 2, A: 255}))
	write(t, filepath.Join(dir, "cake.png"), pngOf(t, color.RGBA{R: 3, A: 255}))
	write(t, filepath.Join(dir, reward+".jpg"), "not a jpeg at all")
	write(t, filepath.Join(dir, "notes.txt"), "hello")
	before := w.checksum("rewards")
	w.want(w.run("images", "upload", dir, "--kind", "rewards"), 1, "[invalid_images]",
		"no reward is 00000000-0000-4000-8000-0000000000ff", "cake.png: a reward image is named <reward id>.png",
		".jpg: the content is text/plain; charset=utf-8, not image/jpeg", "notes.txt: .txt is not an image type")
	if w.checksum("rewards") != before {
		t.Fatal("image_url changed")
	}
	list, err := client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("kk-images")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 0 {
		t.Fatalf("%d objects uploaded", len(list.Contents))
	}
	delete(w.vars, "S3_BUCKET")
	w.want(w.run("images", "upload", dir, "--kind", "rewards"), 1, "[config]", "S3_BUCKET")
}

// liveImages is every reward's image_url and the bytes of the object it points at.
func (w *world) liveImages(client *s3.Client, bucket string) map[string]string {
	w.t.Helper()
	rows, err := w.db.Query(context.Background(), `SELECT id::text, image_url FROM rewards WHERE image_url IS NOT NULL ORDER BY id`)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	live := map[string]string{}
	for rows.Next() {
		var id, imageURL string
		if err := rows.Scan(&id, &imageURL); err != nil {
			w.t.Fatal(err)
		}
		u, err := url.Parse(imageURL)
		if err != nil {
			w.t.Fatal(err)
		}
		key := strings.TrimPrefix(u.Path, "/"+bucket+"/")
		obj, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			w.t.Fatalf("%s: the object of %s: %v", id, imageURL, err)
		}
		data, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			w.t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		live[id] = imageURL + " holds sha256 " + hex.EncodeToString(sum[:])
	}
	if err := rows.Err(); err != nil {
		w.t.Fatal(err)
	}
	return live
}

// An upload that fails part-way changes no live image: every image_url still points at an
// object holding what it held, and a new run uploads only what did not land.
func TestAnUploadThatFailsPartWayChangesNoLiveImage(t *testing.T) {
	w := newWorld(t)
	refuse := ""
	client := w.fakeS3Refusing("kk-images", func(key string) bool { return refuse != "" && strings.Contains(key, refuse) })
	ids := []string{lt.Reward(t, w.db, lt.RewardSpec{}), lt.Reward(t, w.db, lt.RewardSpec{}), lt.Reward(t, w.db, lt.RewardSpec{})}
	slices.Sort(ids) // the directory is uploaded in name order
	dir := t.TempDir()
	for i, id := range ids {
		write(t, filepath.Join(dir, id+".png"), pngOf(t, color.RGBA{R: uint8(10 + i), A: 255}))
	}
	w.want(w.run("images", "upload", dir, "--kind", "rewards"), 0, "3 files: 3 uploaded")
	before := w.liveImages(client, "kk-images")
	if len(before) != 3 {
		t.Fatalf("%d live images, want 3", len(before))
	}
	// Every picture changes; the store refuses the last one, after the others are uploaded.
	for i, id := range ids {
		write(t, filepath.Join(dir, id+".png"), pngOf(t, color.RGBA{G: uint8(10 + i), A: 255}))
	}
	refuse = ids[2]
	w.want(w.run("images", "upload", dir, "--kind", "rewards"), 1, ids[2]+".png: upload")
	if after := w.liveImages(client, "kk-images"); !maps.Equal(after, before) {
		t.Fatalf("a failed upload changed live images:\nbefore %v\nafter  %v", before, after)
	}
	refuse = ""
	w.want(w.run("images", "upload", dir, "--kind", "rewards"), 0, "3 files: 1 uploaded, 2 unchanged")
	after := w.liveImages(client, "kk-images")
	for _, id := range ids {
		if after[id] == before[id] {
			t.Errorf("%s: still the old image after the run that succeeded", id)
		}
	}
}

// The progress bar is for a person at a terminal: with stdout not one (a script, a log),
// nothing of it is printed anywhere.
func TestTheProgressBarPrintsNothingWhenStdoutIsNotATerminal(t *testing.T) {
	w := newWorld(t)
	w.fakeS3("kk-images")
	dir := t.TempDir()
	for i := range 3 {
		id := lt.Reward(t, w.db, lt.RewardSpec{})
		write(t, filepath.Join(dir, id+".png"), pngOf(t, color.RGBA{B: uint8(i), A: 255}))
	}
	a := w.run("images", "upload", dir, "--kind", "rewards")
	w.want(a, 0, "3 files: 3 uploaded")
	if a.errOut != "" {
		t.Errorf("stdout is not a terminal, yet stderr got %q", a.errOut)
	}
	if strings.Contains(a.out, "uploading") || strings.Contains(a.out, "\r") {
		t.Errorf("the bar is in stdout: %q", a.out)
	}
	// The same run at a terminal draws the bar on stderr: the check above can see one.
	for i, f := range must(os.ReadDir(dir)) {
		write(t, filepath.Join(dir, f.Name()), pngOf(t, color.RGBA{G: uint8(i + 1), A: 255}))
	}
	w.tty = true
	if a := w.run("images", "upload", dir, "--kind", "rewards"); !strings.Contains(a.errOut, "uploading rewards") {
		t.Errorf("at a terminal no bar was drawn: %q", a.errOut)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
