;; float32 GEMM: C (m×n) (+)= A (m×kc) · B (kc×n), Goto-style.
;; B is packed once per kc block into panels of 8 columns (kc×8, zero-padded); each tile task packs
;; its rows of A into 4-row micro-panels (kc×4, zero-padded) in its thread's scratch, then runs the
;; 4×8 register-blocked f32x4 micro-kernel over every (8-column panel, 4-row group) of the tile.
;; Module fields only: scripts/gen.ts wraps every src/wat/*.wat file in one module.

;; pack_b(args, begin, end, tid): packs the 8-column panels [begin, end).
;; args (i32): 0 b, 4 rs (bytes from row p to p+1), 8 cs (bytes from column j to j+1), 12 kc, 16 n,
;; 20 dst. Panel j of dst starts at dst + j·kc·32.
(func $pack_b (export "pack_b") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $b i32) (local $rs i32) (local $cs i32) (local $kc i32) (local $n i32) (local $dst i32)
  (local $j0 i32) (local $cols i32) (local $src i32) (local $out i32) (local $p i32) (local $jj i32)
  (local.set $b (i32.load (local.get $args)))
  (local.set $rs (i32.load offset=4 (local.get $args)))
  (local.set $cs (i32.load offset=8 (local.get $args)))
  (local.set $kc (i32.load offset=12 (local.get $args)))
  (local.set $n (i32.load offset=16 (local.get $args)))
  (local.set $dst (i32.load offset=20 (local.get $args)))
  (block $done
    (loop $panels
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $j0 (i32.shl (local.get $begin) (i32.const 3)))
      (local.set $cols (i32.sub (local.get $n) (local.get $j0)))
      (if (i32.gt_s (local.get $cols) (i32.const 8)) (then (local.set $cols (i32.const 8))))
      (local.set $src (i32.add (local.get $b) (i32.mul (local.get $j0) (local.get $cs))))
      (local.set $out (i32.add (local.get $dst) (i32.mul (local.get $begin) (i32.shl (local.get $kc) (i32.const 5)))))
      (local.set $p (local.get $kc))
      (if (i32.and (i32.eq (local.get $cs) (i32.const 4)) (i32.eq (local.get $cols) (i32.const 8)))
        (then
          (loop $rows
            (v128.store (local.get $out) (v128.load (local.get $src)))
            (v128.store offset=16 (local.get $out) (v128.load offset=16 (local.get $src)))
            (local.set $src (i32.add (local.get $src) (local.get $rs)))
            (local.set $out (i32.add (local.get $out) (i32.const 32)))
            (br_if $rows (local.tee $p (i32.sub (local.get $p) (i32.const 1))))))
        (else
          (loop $rows
            (local.set $jj (i32.const 0))
            (loop $cols
              (f32.store
                (i32.add (local.get $out) (i32.shl (local.get $jj) (i32.const 2)))
                (if (result f32) (i32.lt_s (local.get $jj) (local.get $cols))
                  (then (f32.load (i32.add (local.get $src) (i32.mul (local.get $jj) (local.get $cs)))))
                  (else (f32.const 0))))
              (br_if $cols (i32.lt_u (local.tee $jj (i32.add (local.get $jj) (i32.const 1))) (i32.const 8))))
            (local.set $src (i32.add (local.get $src) (local.get $rs)))
            (local.set $out (i32.add (local.get $out) (i32.const 32)))
            (br_if $rows (local.tee $p (i32.sub (local.get $p) (i32.const 1)))))))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $panels))))

;; Packs rows [0, rows) of A (element (i, p) at a + i·rs + p·cs) into 4-row micro-panels:
;; dst[(g·kc + p)·4 + r] = A[4g + r, p], zero for rows ≥ rows.
(func $pack_a (param $a i32) (param $rs i32) (param $cs i32) (param $rows i32) (param $kc i32) (param $dst i32)
  (local $g i32) (local $r i32) (local $p i32) (local $src i32) (local $out i32) (local $h i32)
  (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32)
  (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
  (local.set $g (i32.const 0))
  (loop $groups
    (local.set $h (i32.sub (local.get $rows) (local.get $g)))
    (local.set $out (local.get $dst))
    (local.set $p (i32.const 0))
    (if (i32.and (i32.ge_s (local.get $h) (i32.const 4)) (i32.eq (local.get $rs) (i32.const 4)))
      (then
        ;; A transposed: the 4 rows of a column are contiguous.
        (local.set $src (i32.add (local.get $a) (i32.shl (local.get $g) (i32.const 2))))
        (loop $cols
          (v128.store (local.get $out) (v128.load (local.get $src)))
          (local.set $src (i32.add (local.get $src) (local.get $cs)))
          (local.set $out (i32.add (local.get $out) (i32.const 16)))
          (br_if $cols (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 1))) (local.get $kc))))))
    (if (i32.and (i32.ge_s (local.get $h) (i32.const 4)) (i32.eq (local.get $cs) (i32.const 4)))
      (then
        ;; A row-major: 4×4 blocks transposed with shuffles.
        (local.set $r0 (i32.add (local.get $a) (i32.mul (local.get $g) (local.get $rs))))
        (local.set $r1 (i32.add (local.get $r0) (local.get $rs)))
        (local.set $r2 (i32.add (local.get $r1) (local.get $rs)))
        (local.set $r3 (i32.add (local.get $r2) (local.get $rs)))
        (block $quads_done
          (loop $quads
            (br_if $quads_done (i32.gt_u (i32.add (local.get $p) (i32.const 4)) (local.get $kc)))
            (local.set $x0 (v128.load (local.get $r0)))
            (local.set $x1 (v128.load (local.get $r1)))
            (local.set $x2 (v128.load (local.get $r2)))
            (local.set $x3 (v128.load (local.get $r3)))
            (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $x0) (local.get $x1)))
            (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $x0) (local.get $x1)))
            (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $x2) (local.get $x3)))
            (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $x2) (local.get $x3)))
            (v128.store (local.get $out) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
            (v128.store offset=16 (local.get $out) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
            (v128.store offset=32 (local.get $out) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
            (v128.store offset=48 (local.get $out) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
            (local.set $r0 (i32.add (local.get $r0) (i32.const 16)))
            (local.set $r1 (i32.add (local.get $r1) (i32.const 16)))
            (local.set $r2 (i32.add (local.get $r2) (i32.const 16)))
            (local.set $r3 (i32.add (local.get $r3) (i32.const 16)))
            (local.set $out (i32.add (local.get $out) (i32.const 64)))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (br $quads)))))
    ;; Whatever is left (edge rows, the last columns, other strides): element by element.
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $p) (local.get $kc)))
        (local.set $r (i32.const 0))
        (loop $rows
          (f32.store
            (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2)))
            (if (result f32) (i32.lt_s (local.get $r) (local.get $h))
              (then (f32.load (i32.add
                (i32.add (local.get $a) (i32.mul (i32.add (local.get $g) (local.get $r)) (local.get $rs)))
                (i32.mul (local.get $p) (local.get $cs)))))
              (else (f32.const 0))))
          (br_if $rows (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (i32.const 4))))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $tail)))
    (local.set $dst (i32.add (local.get $dst) (i32.shl (local.get $kc) (i32.const 4))))
    (br_if $groups (i32.lt_s (local.tee $g (i32.add (local.get $g) (i32.const 4))) (local.get $rows)))))

;; The 4×8 micro-kernel: c[r, 0..8) (+)= Σ_p ap[4p + r] · bp[8p + 0..8) for r < 4 (kc ≥ 1),
;; rows of c ldc bytes apart; adds to c when acc ≠ 0. Two k steps per iteration.
(func $micro (param $ap i32) (param $bp i32) (param $kc i32) (param $c i32) (param $ldc i32) (param $acc i32)
  (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
  (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
  (local $b0 v128) (local $b1 v128) (local $x v128) (local $pairs i32)
  (local.set $pairs (i32.shr_u (local.get $kc) (i32.const 1)))
  (if (local.get $pairs)
    (then
      (loop $k
        (local.set $b0 (v128.load (local.get $bp)))
        (local.set $b1 (v128.load offset=16 (local.get $bp)))
        (local.set $x (v128.load32_splat (local.get $ap)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $x (v128.load32_splat offset=4 (local.get $ap)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $x (v128.load32_splat offset=8 (local.get $ap)))
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $x (v128.load32_splat offset=12 (local.get $ap)))
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $b0 (v128.load offset=32 (local.get $bp)))
        (local.set $b1 (v128.load offset=48 (local.get $bp)))
        (local.set $x (v128.load32_splat offset=16 (local.get $ap)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $x (v128.load32_splat offset=20 (local.get $ap)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $x (v128.load32_splat offset=24 (local.get $ap)))
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $x (v128.load32_splat offset=28 (local.get $ap)))
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
        (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
        (local.set $ap (i32.add (local.get $ap) (i32.const 32)))
        (local.set $bp (i32.add (local.get $bp) (i32.const 64)))
        (br_if $k (local.tee $pairs (i32.sub (local.get $pairs) (i32.const 1)))))))
  (if (i32.and (local.get $kc) (i32.const 1))
    (then
      (local.set $b0 (v128.load (local.get $bp)))
      (local.set $b1 (v128.load offset=16 (local.get $bp)))
      (local.set $x (v128.load32_splat (local.get $ap)))
      (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
      (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
      (local.set $x (v128.load32_splat offset=4 (local.get $ap)))
      (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
      (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
      (local.set $x (v128.load32_splat offset=8 (local.get $ap)))
      (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
      (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
      (local.set $x (v128.load32_splat offset=12 (local.get $ap)))
      (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
      (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))))
  (if (local.get $acc)
    (then
      (v128.store (local.get $c) (f32x4.add (v128.load (local.get $c)) (local.get $c00)))
      (v128.store offset=16 (local.get $c) (f32x4.add (v128.load offset=16 (local.get $c)) (local.get $c01)))
      (local.set $c (i32.add (local.get $c) (local.get $ldc)))
      (v128.store (local.get $c) (f32x4.add (v128.load (local.get $c)) (local.get $c10)))
      (v128.store offset=16 (local.get $c) (f32x4.add (v128.load offset=16 (local.get $c)) (local.get $c11)))
      (local.set $c (i32.add (local.get $c) (local.get $ldc)))
      (v128.store (local.get $c) (f32x4.add (v128.load (local.get $c)) (local.get $c20)))
      (v128.store offset=16 (local.get $c) (f32x4.add (v128.load offset=16 (local.get $c)) (local.get $c21)))
      (local.set $c (i32.add (local.get $c) (local.get $ldc)))
      (v128.store (local.get $c) (f32x4.add (v128.load (local.get $c)) (local.get $c30)))
      (v128.store offset=16 (local.get $c) (f32x4.add (v128.load offset=16 (local.get $c)) (local.get $c31))))
    (else
      (v128.store (local.get $c) (local.get $c00))
      (v128.store offset=16 (local.get $c) (local.get $c01))
      (local.set $c (i32.add (local.get $c) (local.get $ldc)))
      (v128.store (local.get $c) (local.get $c10))
      (v128.store offset=16 (local.get $c) (local.get $c11))
      (local.set $c (i32.add (local.get $c) (local.get $ldc)))
      (v128.store (local.get $c) (local.get $c20))
      (v128.store offset=16 (local.get $c) (local.get $c21))
      (local.set $c (i32.add (local.get $c) (local.get $ldc)))
      (v128.store (local.get $c) (local.get $c30))
      (v128.store offset=16 (local.get $c) (local.get $c31)))))

;; gemm_tiles(args, begin, end, tid): the tiles [begin, end) of C, tile t = (t / tilesN, t % tilesN)
;; of mc rows × nc columns (mc a multiple of 4, nc of 8).
;; args (i32): 0 a, 4 ars, 8 acs (bytes; A's element (i, p) at a + i·ars + p·acs), 12 packed B,
;; 16 c, 20 ldc (bytes), 24 m, 28 n, 32 kc, 36 acc, 40 mc, 44 nc, 48 tilesN, 52 scratch,
;; 56 scratch bytes per thread (mc·kc·4 for A, then a 4×8 edge tile).
(func $gemm_tiles (export "gemm_tiles") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $a i32) (local $ars i32) (local $acs i32) (local $bpk i32) (local $c i32) (local $ldc i32)
  (local $m i32) (local $n i32) (local $kc i32) (local $acc i32) (local $mc i32) (local $nc i32) (local $tilesN i32)
  (local $sa i32) (local $edge i32) (local $i0 i32) (local $j0 i32) (local $rows i32) (local $cols i32)
  (local $jr i32) (local $ir i32) (local $bp i32) (local $cp i32) (local $rh i32) (local $cw i32)
  (local $r i32) (local $j i32) (local $dst i32) (local $v f32)
  (local.set $a (i32.load (local.get $args)))
  (local.set $ars (i32.load offset=4 (local.get $args)))
  (local.set $acs (i32.load offset=8 (local.get $args)))
  (local.set $bpk (i32.load offset=12 (local.get $args)))
  (local.set $c (i32.load offset=16 (local.get $args)))
  (local.set $ldc (i32.load offset=20 (local.get $args)))
  (local.set $m (i32.load offset=24 (local.get $args)))
  (local.set $n (i32.load offset=28 (local.get $args)))
  (local.set $kc (i32.load offset=32 (local.get $args)))
  (local.set $acc (i32.load offset=36 (local.get $args)))
  (local.set $mc (i32.load offset=40 (local.get $args)))
  (local.set $nc (i32.load offset=44 (local.get $args)))
  (local.set $tilesN (i32.load offset=48 (local.get $args)))
  (local.set $sa (i32.add (i32.load offset=52 (local.get $args))
    (i32.mul (local.get $tid) (i32.load offset=56 (local.get $args)))))
  (local.set $edge (i32.add (local.get $sa) (i32.shl (i32.mul (local.get $mc) (local.get $kc)) (i32.const 2))))
  (block $done
    (loop $tiles
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $i0 (i32.mul (i32.div_u (local.get $begin) (local.get $tilesN)) (local.get $mc)))
      (local.set $j0 (i32.mul (i32.rem_u (local.get $begin) (local.get $tilesN)) (local.get $nc)))
      (local.set $rows (i32.sub (local.get $m) (local.get $i0)))
      (if (i32.gt_s (local.get $rows) (local.get $mc)) (then (local.set $rows (local.get $mc))))
      (local.set $cols (i32.sub (local.get $n) (local.get $j0)))
      (if (i32.gt_s (local.get $cols) (local.get $nc)) (then (local.set $cols (local.get $nc))))
      (call $pack_a
        (i32.add (local.get $a) (i32.mul (local.get $i0) (local.get $ars)))
        (local.get $ars) (local.get $acs) (local.get $rows) (local.get $kc) (local.get $sa))
      (local.set $jr (i32.const 0))
      (loop $panels
        (local.set $bp (i32.add (local.get $bpk)
          (i32.mul (i32.shr_u (i32.add (local.get $j0) (local.get $jr)) (i32.const 3)) (i32.shl (local.get $kc) (i32.const 5)))))
        (local.set $cw (i32.sub (local.get $cols) (local.get $jr)))
        (if (i32.gt_s (local.get $cw) (i32.const 8)) (then (local.set $cw (i32.const 8))))
        (local.set $ir (i32.const 0))
        (loop $groups
          (local.set $rh (i32.sub (local.get $rows) (local.get $ir)))
          (local.set $cp (i32.add (local.get $c) (i32.add
            (i32.mul (i32.add (local.get $i0) (local.get $ir)) (local.get $ldc))
            (i32.shl (i32.add (local.get $j0) (local.get $jr)) (i32.const 2)))))
          (if (i32.and (i32.ge_s (local.get $rh) (i32.const 4)) (i32.eq (local.get $cw) (i32.const 8)))
            (then
              (call $micro (i32.add (local.get $sa) (i32.shl (i32.mul (local.get $ir) (local.get $kc)) (i32.const 2)))
                (local.get $bp) (local.get $kc) (local.get $cp) (local.get $ldc) (local.get $acc)))
            (else
              (call $micro (i32.add (local.get $sa) (i32.shl (i32.mul (local.get $ir) (local.get $kc)) (i32.const 2)))
                (local.get $bp) (local.get $kc) (local.get $edge) (i32.const 32) (i32.const 0))
              (if (i32.gt_s (local.get $rh) (i32.const 4)) (then (local.set $rh (i32.const 4))))
              (local.set $r (i32.const 0))
              (loop $er
                (local.set $j (i32.const 0))
                (loop $ec
                  (local.set $dst (i32.add (local.get $cp) (i32.add
                    (i32.mul (local.get $r) (local.get $ldc)) (i32.shl (local.get $j) (i32.const 2)))))
                  (local.set $v (f32.load (i32.add (local.get $edge)
                    (i32.add (i32.shl (local.get $r) (i32.const 5)) (i32.shl (local.get $j) (i32.const 2))))))
                  (if (local.get $acc) (then (local.set $v (f32.add (local.get $v) (f32.load (local.get $dst))))))
                  (f32.store (local.get $dst) (local.get $v))
                  (br_if $ec (i32.lt_s (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $cw))))
                (br_if $er (i32.lt_s (local.tee $r (i32.add (local.get $r) (i32.const 1))) (local.get $rh))))))
          (br_if $groups (i32.lt_s (local.tee $ir (i32.add (local.get $ir) (i32.const 4))) (local.get $rows))))
        (br_if $panels (i32.lt_s (local.tee $jr (i32.add (local.get $jr) (i32.const 8))) (local.get $cols))))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $tiles))))

;; gemv(args, begin, end, tid): c (1×n) = a (1×k, contiguous) · B for the output columns
;; [16·begin, 16·end) ∩ [0, n): one row of A needs no packing (a decode step's Linear layers).
;; args (i32): 0 a, 4 b, 8 c, 12 n, 16 k, 20 transB (B is n×k row-major: each output is a dot
;; product of contiguous rows; else B is k×n row-major: rows of B are added into c, scaled by a).
(func $gemv (export "gemv") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $a i32) (local $b i32) (local $c i32) (local $n i32) (local $k i32)
  (local $j i32) (local $je i32) (local $p i32)
  (local.set $a (i32.load (local.get $args)))
  (local.set $b (i32.load offset=4 (local.get $args)))
  (local.set $c (i32.load offset=8 (local.get $args)))
  (local.set $n (i32.load offset=12 (local.get $args)))
  (local.set $k (i32.load offset=16 (local.get $args)))
  (local.set $j (i32.shl (local.get $begin) (i32.const 4)))
  (local.set $je (i32.shl (local.get $end) (i32.const 4)))
  (if (i32.gt_u (local.get $je) (local.get $n)) (then (local.set $je (local.get $n))))
  (if (i32.ge_u (local.get $j) (local.get $je)) (then (return)))
  (if (i32.load offset=20 (local.get $args))
    (then
      (loop $cols
        (if (i32.and (i32.le_u (i32.add (local.get $j) (i32.const 4)) (local.get $je))
              (i32.eqz (i32.and (local.get $k) (i32.const 3))))
          (then
            (v128.store (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))
              (call $dot4 (local.get $a)
                (i32.add (local.get $b) (i32.shl (i32.mul (local.get $j) (local.get $k)) (i32.const 2)))
                (local.get $k)))
            (local.set $j (i32.add (local.get $j) (i32.const 4))))
          (else
            (f32.store (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))
              (call $dot (local.get $a)
                (i32.add (local.get $b) (i32.shl (i32.mul (local.get $j) (local.get $k)) (i32.const 2)))
                (local.get $k)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))))
        (br_if $cols (i32.lt_u (local.get $j) (local.get $je)))))
    (else
      (call $zero (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2))) (i32.sub (local.get $je) (local.get $j)))
      (block $done
        (br_if $done (i32.eqz (local.get $k)))
        (loop $rows
          (call $axpy (f32.load (i32.add (local.get $a) (i32.shl (local.get $p) (i32.const 2))))
            (i32.add (local.get $b) (i32.shl (i32.add (i32.mul (local.get $p) (local.get $n)) (local.get $j)) (i32.const 2)))
            (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))
            (i32.sub (local.get $je) (local.get $j)))
          (br_if $rows (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 1))) (local.get $k))))))))

;; The dot products of a [k] with the four rows b, b + k, b + 2k, b + 3k (k a multiple of 4), as
;; one vector: eight accumulators (two per row, so consecutive k steps do not wait on one add's
;; latency), reduced together by two rounds of shuffles.
(func $dot4 (param $a i32) (param $b i32) (param $k i32) (result v128)
  (local $rowb i32) (local $end i32) (local $end2 i32) (local $av v128) (local $aw v128)
  (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
  (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
  (local.set $rowb (i32.shl (local.get $k) (i32.const 2)))
  (local.set $end (i32.add (local.get $a) (local.get $rowb)))
  ;; Pairs of k steps (32 bytes), then the odd step left.
  (local.set $end2 (i32.add (local.get $a) (i32.and (local.get $rowb) (i32.const -32))))
  (block $pairs
    (br_if $pairs (i32.ge_u (local.get $a) (local.get $end2)))
    (loop $v
      (local.set $av (v128.load (local.get $a)))
      (local.set $aw (v128.load offset=16 (local.get $a)))
      (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (local.get $av) (v128.load (local.get $b)))))
      (local.set $t0 (f32x4.add (local.get $t0) (f32x4.mul (local.get $aw) (v128.load offset=16 (local.get $b)))))
      (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (local.get $av)
        (v128.load (i32.add (local.get $b) (local.get $rowb))))))
      (local.set $t1 (f32x4.add (local.get $t1) (f32x4.mul (local.get $aw)
        (v128.load offset=16 (i32.add (local.get $b) (local.get $rowb))))))
      (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $av)
        (v128.load (i32.add (local.get $b) (i32.shl (local.get $rowb) (i32.const 1)))))))
      (local.set $t2 (f32x4.add (local.get $t2) (f32x4.mul (local.get $aw)
        (v128.load offset=16 (i32.add (local.get $b) (i32.shl (local.get $rowb) (i32.const 1)))))))
      (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (local.get $av)
        (v128.load (i32.add (local.get $b) (i32.mul (local.get $rowb) (i32.const 3)))))))
      (local.set $t3 (f32x4.add (local.get $t3) (f32x4.mul (local.get $aw)
        (v128.load offset=16 (i32.add (local.get $b) (i32.mul (local.get $rowb) (i32.const 3)))))))
      (local.set $b (i32.add (local.get $b) (i32.const 32)))
      (br_if $v (i32.lt_u (local.tee $a (i32.add (local.get $a) (i32.const 32))) (local.get $end2)))))
  (if (i32.lt_u (local.get $a) (local.get $end))
    (then
      (local.set $av (v128.load (local.get $a)))
      (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (local.get $av) (v128.load (local.get $b)))))
      (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (local.get $av)
        (v128.load (i32.add (local.get $b) (local.get $rowb))))))
      (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $av)
        (v128.load (i32.add (local.get $b) (i32.shl (local.get $rowb) (i32.const 1)))))))
      (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (local.get $av)
        (v128.load (i32.add (local.get $b) (i32.mul (local.get $rowb) (i32.const 3)))))))))
  (local.set $s0 (f32x4.add (local.get $s0) (local.get $t0)))
  (local.set $s1 (f32x4.add (local.get $s1) (local.get $t1)))
  (local.set $s2 (f32x4.add (local.get $s2) (local.get $t2)))
  (local.set $s3 (f32x4.add (local.get $s3) (local.get $t3)))
  ;; [s0₀+s0₂, s0₁+s0₃, s1₀+s1₂, s1₁+s1₃] and the same for s2, s3; then pairwise sums.
  (local.set $s0 (f32x4.add
    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $s0) (local.get $s1))
    (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $s0) (local.get $s1))))
  (local.set $s2 (f32x4.add
    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $s2) (local.get $s3))
    (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $s2) (local.get $s3))))
  (f32x4.add
    (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $s0) (local.get $s2))
    (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $s0) (local.get $s2))))
