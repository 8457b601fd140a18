// The captcha without a picture: find a nonce such that
// SHA-256("<token>:<nonce>") starts with N zero bits (N from data-pow) and
// send it as captcha_proof. A screen reader user passes like anyone else;
// without this script the picture and its field stay, as they were.
(function () {
  var box = document.querySelector("[data-pow]");
  if (!box) return;
  var form = box.closest("form");
  var token = box.querySelector("input[name=captcha_id]").value;
  var proof = box.querySelector("input[name=captcha_proof]");
  var visual = box.querySelector(".captcha-visual");
  var note = box.querySelector(".captcha-auto");
  var bits = parseInt(box.getAttribute("data-pow"), 10);
  if (!token || !(bits > 0 && bits <= 32) || !window.Uint32Array) return;

  visual.hidden = true;
  // The typed field is not needed now; a hidden required field must not block the form.
  visual.querySelector("input[name=captcha]").required = false;
  note.hidden = false;
  note.textContent = "Проверяем, что вы не робот: это займёт несколько секунд и ничего не требует от вас.";

  // Int32 throughout: engines keep small-integer arithmetic fast, doubles are not.
  var K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);
  var W = new Int32Array(64);
  var words = new Int32Array(32);

  // The first 32 bits of SHA-256 of the ASCII codes in bytes[0..n) (all
  // the check needs); one or two blocks, no allocation per call.
  function firstWord(bytes, n) {
    var blocks = ((n + 8) >> 6) + 1, i;
    for (i = 0; i < blocks * 16; i++) words[i] = 0;
    for (i = 0; i < n; i++) words[i >> 2] |= bytes[i] << (24 - (i & 3) * 8);
    words[n >> 2] |= 0x80 << (24 - (n & 3) * 8);
    words[blocks * 16 - 1] = n << 3;
    var h0 = 0x6a09e667 | 0, h1 = 0xbb67ae85 | 0, h2 = 0x3c6ef372 | 0, h3 = 0xa54ff53a | 0,
        h4 = 0x510e527f | 0, h5 = 0x9b05688c | 0, h6 = 0x1f83d9ab | 0, h7 = 0x5be0cd19 | 0;
    for (var b = 0; b < blocks; b++) {
      for (i = 0; i < 16; i++) W[i] = words[b * 16 + i];
      for (i = 16; i < 64; i++) {
        var x = W[i - 15], y = W[i - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        W[i] = (((W[i - 16] + s0) | 0) + ((W[i - 7] + s1) | 0)) | 0;
      }
      var a = h0, c1 = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
      for (i = 0; i < 64; i++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var t1 = (((h + S1) | 0) + ((((e & f) ^ (~e & g)) + K[i]) | 0) + W[i]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var t2 = (S0 + ((a & c1) ^ (a & c) ^ (c1 & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = c1; c1 = a; a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + c1) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
    }
    return h0 >>> 0;
  }

  var shift = 32 - bits;
  var nonce = 0;
  var done = false;
  var sendWhenDone = false;
  var prefix = token + ":";
  var bytes = new Uint8Array(prefix.length + 20);
  for (var p = 0; p < prefix.length; p++) bytes[p] = prefix.charCodeAt(p) & 0xff;

  function attempt(nc) {
    var digits = String(nc), n = prefix.length;
    for (var j = 0; j < digits.length; j++) bytes[n + j] = digits.charCodeAt(j);
    return firstWord(bytes, n + digits.length) >>> shift === 0;
  }

  // In slices, so the page stays responsive while it works.
  function work() {
    var until = Date.now() + 40;
    while (Date.now() < until) {
      for (var k = 0; k < 2000; k++, nonce++) {
        if (attempt(nonce)) {
          proof.value = String(nonce);
          done = true;
          note.textContent = "Проверка пройдена, вводить цифры с картинки не нужно.";
          if (sendWhenDone) form.requestSubmit ? form.requestSubmit() : form.submit();
          return;
        }
      }
    }
    setTimeout(work, 0);
  }

  form.addEventListener("submit", function (ev) {
    if (done) return;
    ev.preventDefault();
    sendWhenDone = true;
    note.textContent = "Секунду: заканчиваем проверку, затем форма отправится сама.";
  });
  setTimeout(work, 0);
})();
