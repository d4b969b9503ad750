package scenario

import "strings"

// BrowserHeaderBlock is a browser-like header set of about 1 KB (DESIGN.md
// section 5 has an RSS target "with a 1 KB browser-like header block"); the
// cookie pads the block to BrowserHeaderBytes.
var BrowserHeaderBlock = []string{
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Accept-Language: en-GB,en;q=0.9,de;q=0.8,fr;q=0.7",
	"Accept-Encoding: gzip, deflate, br, zstd",
	"Referer: https://app.example.com/dashboard/projects/42/overview?tab=activity",
	"Origin: https://app.example.com",
	"Sec-Fetch-Dest: empty",
	"Sec-Fetch-Mode: cors",
	"Sec-Fetch-Site: same-site",
	"Sec-Ch-Ua: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"",
	"Sec-Ch-Ua-Mobile: ?0",
	"Sec-Ch-Ua-Platform: \"Linux\"",
	"Pragma: no-cache",
}

// BrowserHeaderBytes is the size the browser-like block is padded to.
const BrowserHeaderBytes = 1024

// BrowserHeaders returns BrowserHeaderBlock plus a cookie that brings the
// block (each line with its CRLF) to BrowserHeaderBytes.
func BrowserHeaders() []string {
	n := 0
	for _, h := range BrowserHeaderBlock {
		n += len(h) + 2
	}
	cookie := "Cookie: session="
	pad := max(0, BrowserHeaderBytes-n-len(cookie)-2)
	return append(append([]string{}, BrowserHeaderBlock...), cookie+strings.Repeat("a", pad))
}
