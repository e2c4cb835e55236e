// Package lambdazip writes a Lambda deployment package reproducibly: the same files give the
// same bytes, whenever and wherever they are zipped, so a build can be checked against
// another and an unchanged function is not redeployed for a new timestamp.
package lambdazip

import (
	"archive/zip"
	"io"
	"time"
)

// modified is every entry's time: the earliest an MS-DOS date can hold, as no file's real
// time belongs in the package.
var modified = time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)

// File is one entry of the package.
type File struct {
	Name string // path inside the zip, e.g. "bootstrap"
	Data []byte
}

// Write zips files to w in the order given, each deflated, with a fixed time and the mode
// 0755 (the runtime executes bootstrap; others lose nothing by it).
func Write(w io.Writer, files []File) error {
	zw := zip.NewWriter(w)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: modified}
		h.SetMode(0o755)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := fw.Write(f.Data); err != nil {
			return err
		}
	}
	return zw.Close()
}
