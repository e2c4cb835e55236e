package app

// The site in a real headless Chromium (Debian's chromium; scripts/install-deps.sh installs
// it), driven with chromedp, against the handler the app image serves. One browser per test
// binary (TestMain); every page opens in a fresh browser context, so one test's language
// choice (localStorage) never leaks into the next.
//
// Each check is a function returning an error, so that TestChecksCatchABrokenSite can run
// the same checks against a broken copy of the site and show that they fail.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// pageBudget is the limit for a page without images: HTML, CSS, JS, JSON together.
const pageBudget = 100 << 10

// axePath is axe-core as npm ci installs it from tools/axe-core/package-lock.json.
const axePath = "../tools/axe-core/node_modules/axe-core/axe.min.js"

var (
	browserCtx context.Context
	axeSource  string
)

func TestMain(m *testing.M) {
	os.Exit(runWithBrowser(m))
}

func runWithBrowser(m *testing.M) int {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				chromium = p
				break
			}
		}
	}
	if chromium == "" {
		// Not a skip: the browser tests are part of the suite, and the install script puts
		// Chromium there.
		fmt.Fprintln(os.Stderr, "app tests: Chromium not found: run scripts/install-deps.sh (apt-get install chromium) or set CHROMIUM")
		return 1
	}
	src, err := os.ReadFile(axePath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "app tests: axe-core not installed (%v): run scripts/install-deps.sh (npm ci --prefix tools/axe-core)\n", err)
		return 1
	}
	axeSource = string(src)

	profile, err := os.MkdirTemp("", "app-chromium-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(profile)
	// The flags that work as root in a container with a closed network: without the
	// background-networking ones Chromium keeps dialling Google's hosts.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		fmt.Fprintf(os.Stderr, "app tests: starting %s: %v\n", chromium, err)
		return 1
	}
	browserCtx = ctx
	return m.Run()
}

// Devices the store-link tests emulate.
type device struct {
	name, userAgent string
	width, height   int64
	mobile          bool
	// touchPoints, when set, is navigator.maxTouchPoints: what tells an iPad, whose Safari
	// asks for the desktop site with a Mac user agent, from a Mac.
	touchPoints int64
}

var (
	iPhone = device{"iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 390, 844, true, 0}
	pixel  = device{"android", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", 412, 915, true, 0}
	laptop = device{"desktop", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", 1280, 900, false, 0}
	iPad   = device{"ipad", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", 820, 1180, true, 5}
	mac    = device{"mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", 1440, 900, false, 0}
)

var devices = []device{iPhone, pixel, laptop}

// testConfig is a valid configuration with ids a test can recognise.
var testConfig = Config{
	AppleAppIDs:       []string{"ABCDE12345.com.kaiserkitchen.loyalty.test"},
	AndroidPackage:    "com.kaiserkitchen.loyalty.test",
	AndroidCertSHA256: []string{"AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99"},
	AppStoreURL:       "https://apps.apple.com/app/id1111111111",
	PlayStoreURL:      "https://play.google.com/store/apps/details?id=com.kaiserkitchen.loyalty.test",
	DeepLinkScheme:    "kaiserkitchen-test",
}

// serve starts the handler of the image over site on 127.0.0.1.
func serve(t *testing.T, site fs.FS) string {
	t.Helper()
	h, err := Handler(site, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// tab is one page in its own browser context, with what it requested and logged.
type tab struct {
	ctx  context.Context
	base string
	url  string // the page last navigated to

	mu       sync.Mutex
	requests []string
	types    map[network.RequestID]network.ResourceType
	bytes    map[network.RequestID]float64
	errors   []string
}

// open loads path with the device's user agent and viewport and the browser language lang,
// and waits until the page's script has settled.
func open(ctx context.Context, base, path string, dev device, lang string) (*tab, error) {
	tctx, _ := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	go func() { <-ctx.Done(); _ = chromedp.Cancel(tctx) }()
	tb := &tab{ctx: tctx, base: base, types: map[network.RequestID]network.ResourceType{}, bytes: map[network.RequestID]float64{}}
	if err := chromedp.Listen(tctx, tb.event); err != nil {
		return nil, err
	}
	err := chromedp.Do(tctx,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
				return err
			}
			// The cache would hide the bytes of a second load from the weight check.
			if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
				return err
			}
			if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
				return err
			}
			// acceptLanguage sets navigator.languages too, which is what the page reads.
			_, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: dev.userAgent, AcceptLanguage: lang})
			return err
		}),
		viewport(dev),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			if dev.touchPoints == 0 {
				return nil
			}
			_, err := chromedp.Call(ctx, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: true, MaxTouchPoints: dev.touchPoints})
			return err
		}),
	)
	if err != nil {
		return nil, err
	}
	return tb, tb.navigate(path)
}

func viewport(dev device) chromedp.Action[chromedp.Void] {
	if dev.mobile {
		return chromedp.EmulateViewport(dev.width, dev.height, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	return chromedp.EmulateViewport(dev.width, dev.height)
}

func (tb *tab) navigate(path string) error {
	tb.mu.Lock()
	tb.url = tb.base + path
	tb.mu.Unlock()
	if err := chromedp.Do(tb.ctx, chromedp.Navigate(tb.base+path)); err != nil {
		return err
	}
	return tb.settled()
}

// settled waits for the page script's data-ready mark: "true" once translations, store links
// and deep link are in place.
func (tb *tab) settled() error {
	state, err := chromedp.Run(tb.ctx, chromedp.Poll[string](`document.body && document.body.dataset.ready`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		return fmt.Errorf("page never settled: %w (console: %v)", err, tb.consoleErrors())
	}
	if state != "true" {
		return fmt.Errorf("page script failed: %v", tb.consoleErrors())
	}
	return nil
}

func (tb *tab) event(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		tb.requests = append(tb.requests, ev.Request.URL)
	case *network.EventResponseReceived:
		tb.types[ev.RequestID] = ev.Type
	case *network.EventLoadingFinished:
		tb.bytes[ev.RequestID] += ev.EncodedDataLength
	case *runtime.EventConsoleAPICalled:
		if ev.Type == "error" || ev.Type == "assert" {
			var parts []string
			for _, a := range ev.Args {
				if a.Value != nil {
					parts = append(parts, strings.Trim(string(a.Value), `"`))
				} else {
					parts = append(parts, a.Description)
				}
			}
			tb.errors = append(tb.errors, "console."+string(ev.Type)+": "+strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + d.Exception.Description
		}
		tb.errors = append(tb.errors, "exception: "+text)
	case *cdplog.EventEntryAdded:
		// CSP violations, failed loads (a 404 of a script, say) and the like.
		// The 404 page's own status is the one expected failure.
		if ev.Entry.Level == cdplog.EntryLevelError && !(ev.Entry.Source == cdplog.EntrySourceNetwork && ev.Entry.URL == tb.url) {
			tb.errors = append(tb.errors, "log: "+ev.Entry.Text+" "+ev.Entry.URL)
		}
	}
}

func (tb *tab) consoleErrors() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return slices.Clone(tb.errors)
}

// checkClean: no console error, and every request went to the test server.
func (tb *tab) checkClean() error {
	var errs []error
	for _, e := range tb.consoleErrors() {
		errs = append(errs, errors.New(e))
	}
	host := strings.TrimPrefix(tb.base, "http://")
	tb.mu.Lock()
	for _, r := range tb.requests {
		u, err := url.Parse(r)
		if err != nil || u.Host != host || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") {
			errs = append(errs, fmt.Errorf("request left localhost: %s", r))
		}
	}
	tb.mu.Unlock()
	return errors.Join(errs...)
}

// weight is the bytes the page loaded, images left out.
func (tb *tab) weight() int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	total := 0.0
	for id, n := range tb.bytes {
		if tb.types[id] != network.ResourceTypeImage {
			total += n
		}
	}
	return int(total)
}

func (tb *tab) eval(expr string) (string, error) {
	return chromedp.Run(tb.ctx, chromedp.Evaluate[string](expr))
}

func (tb *tab) screenshot(t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// languages reads the site's language list and dictionaries.
func languages(site fs.FS) (map[string]map[string]string, error) {
	var index struct {
		Languages []struct{ Code, Name string }
	}
	b, err := fs.ReadFile(site, "i18n/languages.json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &index); err != nil {
		return nil, err
	}
	dicts := map[string]map[string]string{}
	for _, l := range index.Languages {
		b, err := fs.ReadFile(site, "i18n/"+l.Code+".json")
		if err != nil {
			return nil, err
		}
		var d map[string]string
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("i18n/%s.json: %w", l.Code, err)
		}
		dicts[l.Code] = d
	}
	return dicts, nil
}

var i18nKey = regexp.MustCompile(`data-i18n(?:-attr)?="([^"]+)"`)

// checkTranslationFiles: every key a page names is in every language file, and no file has
// a key no page uses (a typo on either side shows up here).
func checkTranslationFiles(site fs.FS) error {
	dicts, err := languages(site)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, page := range []string{"index.html", "invite/index.html", "404.html"} {
		b, err := fs.ReadFile(site, page)
		if err != nil {
			return err
		}
		for _, m := range i18nKey.FindAllStringSubmatch(string(b), -1) {
			for _, pair := range strings.Split(m[1], ";") {
				_, key, ok := strings.Cut(pair, ":")
				if !ok {
					key = pair
				}
				used[key] = true
			}
		}
	}
	var errs []error
	for lang, d := range dicts {
		for k := range used {
			if strings.TrimSpace(d[k]) == "" {
				errs = append(errs, fmt.Errorf("i18n/%s.json lacks %q", lang, k))
			}
		}
		for k := range d {
			if !used[k] {
				errs = append(errs, fmt.Errorf("i18n/%s.json has %q, which no page uses", lang, k))
			}
		}
	}
	return errors.Join(errs...)
}

// checkRendersIn: path opened with the browser language lang shows every string of that
// language's file, and sets <html lang>.
func checkRendersIn(ctx context.Context, site fs.FS, base, path, lang string, dev device) (*tab, error) {
	dicts, err := languages(site)
	if err != nil {
		return nil, err
	}
	tb, err := open(ctx, base, path, dev, lang+",en;q=0.5")
	if err != nil {
		return nil, err
	}
	return tb, tb.checkShows(lang, dicts[lang])
}

func (tb *tab) checkShows(lang string, dict map[string]string) error {
	got, err := tb.eval(`JSON.stringify({lang: document.documentElement.lang,
		texts: Array.from(document.querySelectorAll('[data-i18n]')).map(e => [e.dataset.i18n, e.textContent])})`)
	if err != nil {
		return err
	}
	var page struct {
		Lang  string
		Texts [][2]string
	}
	if err := json.Unmarshal([]byte(got), &page); err != nil {
		return err
	}
	var errs []error
	if page.Lang != lang {
		errs = append(errs, fmt.Errorf("<html lang> is %q, want %q", page.Lang, lang))
	}
	for _, kv := range page.Texts {
		if want, ok := dict[kv[0]]; !ok || kv[1] != want {
			errs = append(errs, fmt.Errorf("%s: %q shows %q, want %q", lang, kv[0], kv[1], want))
		}
	}
	if len(page.Texts) < 5 {
		errs = append(errs, fmt.Errorf("only %d translated elements: is the page there?", len(page.Texts)))
	}
	return errors.Join(append(errs, tb.checkClean())...)
}

type storeLink struct{ Store, Href, Class string }

// checkStoreLinks: the visitor's store first (and marked), the other one after it; on a
// desktop both, App Store first; each pointing at the configured store page; and the deep
// link into the app.
func checkStoreLinks(ctx context.Context, base string, dev device) error {
	tb, err := open(ctx, base, "/", dev, "en")
	if err != nil {
		return err
	}
	got, err := tb.eval(`JSON.stringify({links: Array.from(document.querySelectorAll('#stores a')).map(a => ({store: a.dataset.store, href: a.href, class: a.className})),
		open: document.getElementById('open-app').getAttribute('href')})`)
	if err != nil {
		return err
	}
	var page struct {
		Links []storeLink
		Open  string
	}
	if err := json.Unmarshal([]byte(got), &page); err != nil {
		return err
	}
	ios := storeLink{"ios", testConfig.AppStoreURL, "store"}
	android := storeLink{"android", testConfig.PlayStoreURL, "store"}
	var want []storeLink
	wantOpen := testConfig.DeepLinkScheme + "://home"
	switch dev.name {
	case "iphone", "ipad":
		ios.Class += " primary"
		want = []storeLink{ios, android}
	case "android":
		android.Class += " primary"
		want = []storeLink{android, ios}
		wantOpen = "intent://home#Intent;scheme=" + testConfig.DeepLinkScheme + ";package=" + testConfig.AndroidPackage +
			";S.browser_fallback_url=" + url.QueryEscape(testConfig.PlayStoreURL) + ";end"
	default:
		want = []storeLink{ios, android}
	}
	var errs []error
	if !slices.Equal(page.Links, want) {
		errs = append(errs, fmt.Errorf("%s: store links %+v, want %+v", dev.name, page.Links, want))
	}
	if page.Open != wantOpen {
		errs = append(errs, fmt.Errorf("%s: deep link %q, want %q", dev.name, page.Open, wantOpen))
	}
	return errors.Join(append(errs, tb.checkClean())...)
}

// checkInvite: a valid code (in any case) is shown and carried into the deep link; anything
// else shows the invalid-code notice, puts nothing of it on the page or into the link, and
// runs nothing.
func checkInvite(ctx context.Context, base string) error {
	var errs []error
	valid := []struct{ query, code string }{
		{"ABCD2345", "ABCD2345"},
		{"wxyz6789", "WXYZ6789"},
		{"%20HJKM2345%20", "HJKM2345"},
	}
	for _, c := range valid {
		tb, err := open(ctx, base, "/invite/?code="+c.query, laptop, "en")
		if err != nil {
			return err
		}
		shown, _ := tb.eval(`document.getElementById('invite-valid').hidden ? '(hidden)' : document.getElementById('invite-code').textContent`)
		link, _ := tb.eval(`document.getElementById('open-app').getAttribute('href')`)
		if shown != c.code {
			errs = append(errs, fmt.Errorf("code %q shows %q, want %q", c.query, shown, c.code))
		}
		if want := testConfig.DeepLinkScheme + "://invite?code=" + c.code; link != want {
			errs = append(errs, fmt.Errorf("code %q: deep link %q, want %q", c.query, link, want))
		}
		errs = append(errs, tb.checkClean())
	}
	hostile := []string{
		`<img src=x onerror="window.__pwned=1">`,
		`"><script>window.__pwned=1</script>`,
		`ABCD2345"><b>x</b>`,
		`ABCD2345&lang=vi`,
		`ABCD234O`, // O is not in the alphabet
		`ABCD234`,
		`javascript:window.__pwned=1`,
	}
	for _, code := range hostile {
		tb, err := open(ctx, base, "/invite/?code="+url.QueryEscape(code), laptop, "en")
		if err != nil {
			return err
		}
		got, err := tb.eval(`JSON.stringify({pwned: String(window.__pwned), invalid: !document.getElementById('invite-invalid').hidden,
			valid: !document.getElementById('invite-valid').hidden, code: document.getElementById('invite-code').innerHTML,
			injected: document.querySelectorAll('main img, main script, main b').length, link: document.getElementById('open-app').getAttribute('href')})`)
		if err != nil {
			return err
		}
		var page struct {
			Pwned          string
			Invalid, Valid bool
			Code           string
			Injected       int
			Link           string
		}
		if err := json.Unmarshal([]byte(got), &page); err != nil {
			return err
		}
		wantLink := testConfig.DeepLinkScheme + "://invite"
		if page.Pwned != "undefined" || !page.Invalid || page.Valid || page.Code != "" || page.Injected != 0 || page.Link != wantLink {
			errs = append(errs, fmt.Errorf("hostile code %q: page %+v; want the invalid notice, no code, nothing injected, deep link %q", code, page, wantLink))
		}
		errs = append(errs, tb.checkClean())
	}
	return errors.Join(errs...)
}

// checkAxe runs axe-core in the page and reports every violation.
func (tb *tab) checkAxe() error {
	if _, err := chromedp.Run(tb.ctx, chromedp.Evaluate[chromedp.Void](axeSource)); err != nil {
		return fmt.Errorf("injecting axe-core: %w", err)
	}
	got, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ['violations']}).then(r =>
		JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	var violations []struct {
		ID, Impact, Help string
		Nodes            []string
	}
	if err := json.Unmarshal([]byte(got), &violations); err != nil {
		return err
	}
	var errs []error
	for _, v := range violations {
		errs = append(errs, fmt.Errorf("axe %s (%s): %s at %v", v.ID, v.Impact, v.Help, v.Nodes))
	}
	return errors.Join(errs...)
}

func TestTranslationFilesCoverEveryKey(t *testing.T) {
	if err := checkTranslationFiles(Site()); err != nil {
		t.Fatal(err)
	}
}

func TestPagesRenderInEveryLanguageOnEveryDevice(t *testing.T) {
	base := serve(t, Site())
	dicts, err := languages(Site())
	if err != nil {
		t.Fatal(err)
	}
	for lang := range dicts {
		for _, dev := range devices {
			for page, path := range map[string]string{"index": "/", "invite": "/invite/?code=ABCD2345", "404": "/no-such-page"} {
				t.Run(lang+"/"+dev.name+"/"+page, func(t *testing.T) {
					tb, err := checkRendersIn(ctxFor(t), Site(), base, path, lang, dev)
					if err != nil {
						t.Fatal(err)
					}
					tb.screenshot(t, page+"-"+lang+"-"+dev.name)
				})
			}
		}
	}
}

func TestBrowserLanguagePicksTheClosestLanguage(t *testing.T) {
	base := serve(t, Site())
	for accept, want := range map[string]string{"vi-VN,vi;q=0.9": "vi", "en-GB": "en", "fr-FR,de": "en", "fr,vi;q=0.5": "vi"} {
		tb, err := open(ctxFor(t), base, "/", laptop, accept)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := tb.eval(`document.documentElement.lang`); got != want {
			t.Errorf("Accept-Language %q: page in %q, want %q", accept, got, want)
		}
	}
}

func TestLanguageSwitchTranslatesAndIsRemembered(t *testing.T) {
	base := serve(t, Site())
	dicts, err := languages(Site())
	if err != nil {
		t.Fatal(err)
	}
	tb, err := open(ctxFor(t), base, "/", laptop, "en-US")
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.checkShows("en", dicts["en"]); err != nil {
		t.Fatal(err)
	}
	// As a keyboard user would: focus the select, pick the language, the change event fires.
	if err := chromedp.Do(tb.ctx,
		chromedp.SetValue(chromedp.ID("lang-select"), "vi"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('lang-select').dispatchEvent(new Event('change'))`),
		chromedp.Poll[chromedp.Void](`document.body.dataset.lang === 'vi'`, chromedp.WithPollingTimeout(5*time.Second)),
	); err != nil {
		t.Fatal(err)
	}
	if err := tb.checkShows("vi", dicts["vi"]); err != nil {
		t.Fatal(err)
	}
	// The choice outlives the page: the next page opens in Vietnamese on an English browser.
	if err := tb.navigate("/invite/?code=ABCD2345"); err != nil {
		t.Fatal(err)
	}
	if err := tb.checkShows("vi", dicts["vi"]); err != nil {
		t.Fatal(err)
	}
}

func TestKeyboardReachesEveryControlInOrder(t *testing.T) {
	base := serve(t, Site())
	tb, err := open(ctxFor(t), base, "/", laptop, "en")
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for range 6 {
		if err := chromedp.Do(tb.ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		id, err := tb.eval(`(e => e.id || e.dataset.store || e.className || e.tagName)(document.activeElement)`)
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, id)
	}
	want := []string{"skip", "brand", "lang-select", "ios", "android", "open-app"}
	if !slices.Equal(order, want) {
		t.Fatalf("Tab visits %v, want %v", order, want)
	}
}

func TestStoreLinksFollowTheDevice(t *testing.T) {
	base := serve(t, Site())
	for _, dev := range append(slices.Clone(devices), iPad, mac) {
		t.Run(dev.name, func(t *testing.T) {
			if err := checkStoreLinks(ctxFor(t), base, dev); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestInviteCarriesTheCodeAndInjectsNothing(t *testing.T) {
	base := serve(t, Site())
	if err := checkInvite(ctxFor(t), base); err != nil {
		t.Fatal(err)
	}
	// On Android the code travels in the intent: URL, with Google Play as the fallback.
	tb, err := open(ctxFor(t), base, "/invite/?code=ABCD2345", pixel, "en")
	if err != nil {
		t.Fatal(err)
	}
	link, _ := tb.eval(`document.getElementById('open-app').getAttribute('href')`)
	want := "intent://invite?code=ABCD2345#Intent;scheme=" + testConfig.DeepLinkScheme + ";package=" + testConfig.AndroidPackage +
		";S.browser_fallback_url=" + url.QueryEscape(testConfig.PlayStoreURL) + ";end"
	if link != want {
		t.Fatalf("deep link %q, want %q", link, want)
	}
	// On an iPhone, in the app's own scheme.
	tb, err = open(ctxFor(t), base, "/invite/?code=ABCD2345", iPhone, "en")
	if err != nil {
		t.Fatal(err)
	}
	if link, _ := tb.eval(`document.getElementById('open-app').getAttribute('href')`); link != testConfig.DeepLinkScheme+"://invite?code=ABCD2345" {
		t.Fatalf("deep link on an iPhone %q, want %q", link, testConfig.DeepLinkScheme+"://invite?code=ABCD2345")
	}
}

func TestPagesStayWithinTheWeightBudget(t *testing.T) {
	base := serve(t, Site())
	for _, path := range []string{"/", "/invite/?code=ABCD2345", "/missing"} {
		tb, err := open(ctxFor(t), base, path, iPhone, "vi")
		if err != nil {
			t.Fatal(err)
		}
		w := tb.weight()
		t.Logf("%s: %d bytes without images", path, w)
		if w > pageBudget || w < 5000 {
			t.Errorf("%s weighs %d bytes without images; want some, and at most %d", path, w, pageBudget)
		}
		if err := tb.checkClean(); err != nil {
			t.Error(err)
		}
	}
}

func TestAxeFindsNoViolations(t *testing.T) {
	base := serve(t, Site())
	for _, lang := range []string{"en", "vi"} {
		for _, path := range []string{"/", "/invite/?code=ABCD2345", "/invite/?code=bad", "/missing"} {
			for _, dev := range devices {
				tb, err := open(ctxFor(t), base, path, dev, lang)
				if err != nil {
					t.Fatal(err)
				}
				if err := tb.checkAxe(); err != nil {
					t.Errorf("%s %s %s:\n%v", lang, dev.name, path, err)
				}
			}
		}
	}
}

// TestChecksCatchABrokenSite breaks a copy of the site in the ways the issue names and shows
// that the checks above fail on each, so a passing run means something.
func TestChecksCatchABrokenSite(t *testing.T) {
	breakages := []struct {
		name, file, from, to string
		also                 [2]string // a second replacement in the same file, if any
		check                func(ctx context.Context, site fs.FS, base string) error
	}{{
		name: "android store link not first on Android", file: "assets/site.js",
		from: "if (dev === 'android') {", to: "if (dev === 'never') {",
		check: func(ctx context.Context, _ fs.FS, base string) error { return checkStoreLinks(ctx, base, pixel) },
	}, {
		name: "store links swapped", file: "assets/site.js",
		from: "ios.href = cfg.appStoreUrl;", to: "ios.href = cfg.playStoreUrl;",
		check: func(ctx context.Context, _ fs.FS, base string) error { return checkStoreLinks(ctx, base, laptop) },
	}, {
		name: "translation key missing", file: "i18n/vi.json",
		from: `"earn.heading": "Cách tích điểm",`, to: ``,
		check: func(ctx context.Context, site fs.FS, base string) error {
			if err := checkTranslationFiles(site); err == nil {
				return errors.New("checkTranslationFiles passed")
			}
			_, err := checkRendersIn(ctx, site, base, "/", "vi", laptop)
			return err
		},
	}, {
		name: "translation key misspelt in a page", file: "index.html",
		from: `data-i18n="redeem.heading"`, to: `data-i18n="redeem.headline"`,
		check: func(ctx context.Context, site fs.FS, base string) error {
			_, err := checkRendersIn(ctx, site, base, "/", "vi", laptop)
			return err
		},
	}, {
		name: "language select without its label", file: "index.html",
		from: `<label for="lang-select"`, to: `<label for="lang-selector"`,
		check: func(ctx context.Context, _ fs.FS, base string) error {
			tb, err := open(ctx, base, "/", laptop, "en")
			if err != nil {
				return err
			}
			return tb.checkAxe()
		},
	}, {
		name: "invite code not validated", file: "assets/site.js",
		from: "return CODE.test(raw) ? raw : '';", to: "return raw;",
		check: func(ctx context.Context, _ fs.FS, base string) error { return checkInvite(ctx, base) },
	}, {
		// Validation is the first guard and textContent the second: with neither, the code's
		// markup lands in the page. (textContent alone leaves nothing to see once validation
		// holds, so it is not broken on its own here.)
		name: "invite code neither validated nor escaped", file: "assets/site.js",
		from:  "return CODE.test(raw) ? raw : '';\n  }",
		to:    "return raw;\n  }",
		also:  [2]string{"document.getElementById('invite-code').textContent = code;", "document.getElementById('invite-code').innerHTML = code;"},
		check: func(ctx context.Context, _ fs.FS, base string) error { return checkInvite(ctx, base) },
	}}
	for _, b := range breakages {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, Site()); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, b.file)
			src, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(src), b.from) {
				t.Fatalf("%s no longer contains %q: update this breakage", b.file, b.from)
			}
			out := strings.Replace(string(src), b.from, b.to, 1)
			if b.also[0] != "" {
				if !strings.Contains(out, b.also[0]) {
					t.Fatalf("%s no longer contains %q: update this breakage", b.file, b.also[0])
				}
				out = strings.Replace(out, b.also[0], b.also[1], 1)
			}
			if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			broken := os.DirFS(dir)
			err = b.check(ctxFor(t), broken, serve(t, broken))
			if err == nil {
				t.Fatal("the check passed on the broken site")
			}
			t.Logf("caught: %.300v", err)
		})
	}
}
