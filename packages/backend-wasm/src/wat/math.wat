;; f32x4 elementary functions (Cephes' single-precision algorithms, about 1 ulp) and partial-vector
;; loads and stores for the last, narrower group of a channels-last loop.

;; exp(x): x = n·ln2 + r with |r| ≤ ln2/2, a degree-6 polynomial for exp(r), 2^n built in the
;; exponent bits. n is rounded by adding 1.5·2^23 (the sum's low mantissa bits are then n, so 2^n
;; is one integer add and shift away), and the clamps use pmin/pmax: x64 has single instructions
;; for both, where f32x4.nearest, min, max and trunc_sat expand to long sequences. Inputs below −87.3 give exp(−87.3) (≈ 1e−38, the smallest normal range), above
;; 88.72 give +Infinity; NaN stays NaN.
(func $vexp (param $x v128) (result v128)
  (local $n v128) (local $t v128) (local $r v128) (local $p v128) (local $big v128)
  (local.set $big (f32x4.gt (local.get $x) (v128.const f32x4 88.72283 88.72283 88.72283 88.72283)))
  (local.set $x (f32x4.pmax (local.get $x) (v128.const f32x4 -87.33654 -87.33654 -87.33654 -87.33654)))
  (local.set $x (f32x4.pmin (local.get $x) (v128.const f32x4 88.72283 88.72283 88.72283 88.72283)))
  (local.set $t (f32x4.add (f32x4.mul (local.get $x) (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504))
    (v128.const f32x4 12582912 12582912 12582912 12582912)))
  (local.set $n (f32x4.sub (local.get $t) (v128.const f32x4 12582912 12582912 12582912 12582912)))
  (local.set $r (f32x4.sub (local.get $x) (f32x4.mul (local.get $n) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))
  (local.set $r (f32x4.add (local.get $r) (f32x4.mul (local.get $n) (v128.const f32x4 2.12194440e-4 2.12194440e-4 2.12194440e-4 2.12194440e-4))))
  (local.set $p (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
  (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
  (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
  (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
  (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
  (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
  (local.set $p (f32x4.add
    (f32x4.add (f32x4.mul (f32x4.mul (local.get $p) (local.get $r)) (local.get $r)) (local.get $r))
    (v128.const f32x4 1 1 1 1)))
  (local.set $p (f32x4.mul (local.get $p)
    (i32x4.shl (i32x4.add (local.get $t) (v128.const i32x4 -1262485377 -1262485377 -1262485377 -1262485377)) (i32.const 23))))
  (v128.bitselect (v128.const f32x4 inf inf inf inf) (local.get $p) (local.get $big)))

;; dst[n] = exp(dt · a[n]) for n < count (v128 rows): $vexp's body inlined in the loop, so the
;; scan's inner loops make one call per token instead of one per state.
(func $exp_rows (param $dt v128) (param $a i32) (param $dst i32) (param $count i32)
  (local $x v128) (local $n v128) (local $t v128) (local $r v128) (local $p v128) (local $big v128) (local $end i32)
  (local.set $end (i32.add (local.get $a) (i32.shl (local.get $count) (i32.const 4))))
  (loop $rows
    (local.set $x (f32x4.mul (local.get $dt) (v128.load (local.get $a))))
    (local.set $big (f32x4.gt (local.get $x) (v128.const f32x4 88.72283 88.72283 88.72283 88.72283)))
    (local.set $x (f32x4.pmax (local.get $x) (v128.const f32x4 -87.33654 -87.33654 -87.33654 -87.33654)))
    (local.set $x (f32x4.pmin (local.get $x) (v128.const f32x4 88.72283 88.72283 88.72283 88.72283)))
    (local.set $t (f32x4.add (f32x4.mul (local.get $x) (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504))
      (v128.const f32x4 12582912 12582912 12582912 12582912)))
    (local.set $n (f32x4.sub (local.get $t) (v128.const f32x4 12582912 12582912 12582912 12582912)))
    (local.set $r (f32x4.sub (local.get $x) (f32x4.mul (local.get $n) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))
    (local.set $r (f32x4.add (local.get $r) (f32x4.mul (local.get $n) (v128.const f32x4 2.12194440e-4 2.12194440e-4 2.12194440e-4 2.12194440e-4))))
    (local.set $p (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
    (local.set $p (f32x4.add
      (f32x4.add (f32x4.mul (f32x4.mul (local.get $p) (local.get $r)) (local.get $r)) (local.get $r))
      (v128.const f32x4 1 1 1 1)))
    (local.set $p (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (local.get $t) (v128.const i32x4 -1262485377 -1262485377 -1262485377 -1262485377)) (i32.const 23))))
    (v128.store (local.get $dst) (v128.bitselect (v128.const f32x4 inf inf inf inf) (local.get $p) (local.get $big)))
    (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
    (br_if $rows (i32.lt_u (local.tee $a (i32.add (local.get $a) (i32.const 16))) (local.get $end)))))

;; log(x) for x ≥ 1 (finite): x = m·2^e with m in [√½, √2), Cephes' degree-9 polynomial in m − 1.
(func $vlog (param $x v128) (result v128)
  (local $e v128) (local $m v128) (local $small v128) (local $f v128) (local $z v128) (local $y v128)
  (local.set $e (f32x4.convert_i32x4_s (i32x4.sub
    (i32x4.shr_u (local.get $x) (i32.const 23)) (v128.const i32x4 126 126 126 126))))
  (local.set $m (v128.or
    (v128.and (local.get $x) (v128.const i32x4 0x007fffff 0x007fffff 0x007fffff 0x007fffff))
    (v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000)))
  (local.set $small (f32x4.lt (local.get $m) (v128.const f32x4 0.707106781 0.707106781 0.707106781 0.707106781)))
  (local.set $e (f32x4.sub (local.get $e) (v128.and (local.get $small) (v128.const f32x4 1 1 1 1))))
  (local.set $f (f32x4.sub
    (f32x4.add (local.get $m) (v128.and (local.get $small) (local.get $m)))
    (v128.const f32x4 1 1 1 1)))
  (local.set $z (f32x4.mul (local.get $f) (local.get $f)))
  (local.set $y (v128.const f32x4 7.0376836292e-2 7.0376836292e-2 7.0376836292e-2 7.0376836292e-2))
  (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $f)) (v128.const f32x4 -1.1514610310e-1 -1.1514610310e-1 -1.1514610310e-1 -1.1514610310e-1)))
  (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $f)) (v128.const f32x4 1.1676998740e-1 1.1676998740e-1 1.1676998740e-1 1.1676998740e-1)))
  (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $f)) (v128.const f32x4 -1.2420140846e-1 -1.2420140846e-1 -1.2420140846e-1 -1.2420140846e-1)))
  (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $f)) (v128.const f32x4 1.4249322787e-1 1.4249322787e-1 1.4249322787e-1 1.4249322787e-1)))
  (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $f)) (v128.const f32x4 -1.6668057665e-1 -1.6668057665e-1 -1.6668057665e-1 -1.6668057665e-1)))
  (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $f)) (v128.const f32x4 2.0000714765e-1 2.0000714765e-1 2.0000714765e-1 2.0000714765e-1)))
  (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $f)) (v128.const f32x4 -2.4999993993e-1 -2.4999993993e-1 -2.4999993993e-1 -2.4999993993e-1)))
  (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $f)) (v128.const f32x4 3.3333331174e-1 3.3333331174e-1 3.3333331174e-1 3.3333331174e-1)))
  (local.set $y (f32x4.mul (f32x4.mul (local.get $y) (local.get $f)) (local.get $z)))
  (local.set $y (f32x4.add (local.get $y) (f32x4.mul (local.get $e) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
  (local.set $y (f32x4.sub (local.get $y) (f32x4.mul (local.get $z) (v128.const f32x4 0.5 0.5 0.5 0.5))))
  (f32x4.add (f32x4.add (local.get $f) (local.get $y))
    (f32x4.mul (local.get $e) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))

;; softplus(x) = x for x > 20, else log1p(exp(x)); log1p(w) = log(1 + w) · w / ((1 + w) − 1)
;; (exact-rounding correction; w where 1 + w rounds to 1).
(func $vsoftplus (param $x v128) (result v128)
  (local $w v128) (local $u v128) (local $d v128) (local $l v128)
  (local.set $w (call $vexp (local.get $x)))
  (local.set $u (f32x4.add (local.get $w) (v128.const f32x4 1 1 1 1)))
  (local.set $d (f32x4.sub (local.get $u) (v128.const f32x4 1 1 1 1)))
  (local.set $l (v128.bitselect
    (local.get $w)
    (f32x4.div (f32x4.mul (call $vlog (local.get $u)) (local.get $w)) (local.get $d))
    (f32x4.eq (local.get $d) (v128.const f32x4 0 0 0 0))))
  (v128.bitselect (local.get $x) (local.get $l)
    (f32x4.gt (local.get $x) (v128.const f32x4 20 20 20 20))))

;; sigmoid(x) = 1 / (1 + exp(−x)).
(func $vsigmoid (param $x v128) (result v128)
  (f32x4.div (v128.const f32x4 1 1 1 1)
    (f32x4.add (v128.const f32x4 1 1 1 1) (call $vexp (f32x4.neg (local.get $x))))))

;; The first k (1 … 4) floats at p as a vector, zeros after them.
(func $loadp (param $p i32) (param $k i32) (result v128)
  (local $v v128)
  (if (i32.ge_u (local.get $k) (i32.const 4)) (then (return (v128.load (local.get $p)))))
  (local.set $v (f32x4.replace_lane 0 (v128.const f32x4 0 0 0 0) (f32.load (local.get $p))))
  (if (i32.gt_u (local.get $k) (i32.const 1))
    (then (local.set $v (f32x4.replace_lane 1 (local.get $v) (f32.load offset=4 (local.get $p))))))
  (if (i32.gt_u (local.get $k) (i32.const 2))
    (then (local.set $v (f32x4.replace_lane 2 (local.get $v) (f32.load offset=8 (local.get $p))))))
  (local.get $v))

;; Stores the first k (1 … 4) lanes of v at p.
(func $storep (param $p i32) (param $v v128) (param $k i32)
  (if (i32.ge_u (local.get $k) (i32.const 4)) (then (v128.store (local.get $p) (local.get $v)) (return)))
  (f32.store (local.get $p) (f32x4.extract_lane 0 (local.get $v)))
  (if (i32.gt_u (local.get $k) (i32.const 1))
    (then (f32.store offset=4 (local.get $p) (f32x4.extract_lane 1 (local.get $v)))))
  (if (i32.gt_u (local.get $k) (i32.const 2))
    (then (f32.store offset=8 (local.get $p) (f32x4.extract_lane 2 (local.get $v))))))

;; Lanes 0 … k−1 of a strided column: p, p + stride, … (zeros after them).
(func $loadcol (param $p i32) (param $stride i32) (param $k i32) (result v128)
  (local $v v128)
  (local.set $v (f32x4.replace_lane 0 (v128.const f32x4 0 0 0 0) (f32.load (local.get $p))))
  (if (i32.gt_u (local.get $k) (i32.const 1))
    (then (local.set $v (f32x4.replace_lane 1 (local.get $v)
      (f32.load (i32.add (local.get $p) (local.get $stride)))))))
  (if (i32.gt_u (local.get $k) (i32.const 2))
    (then (local.set $v (f32x4.replace_lane 2 (local.get $v)
      (f32.load (i32.add (local.get $p) (i32.shl (local.get $stride) (i32.const 1))))))))
  (if (i32.gt_u (local.get $k) (i32.const 3))
    (then (local.set $v (f32x4.replace_lane 3 (local.get $v)
      (f32.load (i32.add (local.get $p) (i32.mul (local.get $stride) (i32.const 3))))))))
  (local.get $v))

;; Stores lanes 0 … k−1 of v to a strided column: p, p + stride, …
(func $storecol (param $p i32) (param $stride i32) (param $v v128) (param $k i32)
  (f32.store (local.get $p) (f32x4.extract_lane 0 (local.get $v)))
  (if (i32.gt_u (local.get $k) (i32.const 1))
    (then (f32.store (i32.add (local.get $p) (local.get $stride)) (f32x4.extract_lane 1 (local.get $v)))))
  (if (i32.gt_u (local.get $k) (i32.const 2))
    (then (f32.store (i32.add (local.get $p) (i32.shl (local.get $stride) (i32.const 1))) (f32x4.extract_lane 2 (local.get $v)))))
  (if (i32.gt_u (local.get $k) (i32.const 3))
    (then (f32.store (i32.add (local.get $p) (i32.mul (local.get $stride) (i32.const 3))) (f32x4.extract_lane 3 (local.get $v))))))

;; Sum of the four lanes.
(func $hsum (param $v v128) (result f32)
  (f32.add
    (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
    (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))
