;; RMS normalisation (the kernel table's RmsNormArgs), float32, a task per row:
;; rstd = 1 / sqrt(mean(x²) + eps), out = x · rstd · weight.

;; rms_fwd(args, begin, end, tid): rows [begin, end).
;; args: 0 x, 4 weight, 8 out, 12 rstd (i32 pointers), 16 cols (i32), 20 eps (f32).
(func $rms_fwd (export "rms_fwd") (param $args i32) (param $begin i32) (param $end i32) (param $tid i32)
  (local $cols i32) (local $x i32) (local $w i32) (local $o i32) (local $c i32) (local $k i32)
  (local $rstd f32) (local $rv v128)
  (local.set $cols (i32.load offset=16 (local.get $args)))
  (block $done
    (loop $rows
      (br_if $done (i32.ge_u (local.get $begin) (local.get $end)))
      (local.set $x (i32.add (i32.load (local.get $args)) (i32.shl (i32.mul (local.get $begin) (local.get $cols)) (i32.const 2))))
      (local.set $o (i32.add (i32.load offset=8 (local.get $args)) (i32.shl (i32.mul (local.get $begin) (local.get $cols)) (i32.const 2))))
      (local.set $w (i32.load offset=4 (local.get $args)))
      (local.set $rstd (f32.div (f32.const 1) (f32.sqrt (f32.add
        (f32.div (call $dot (local.get $x) (local.get $x) (local.get $cols)) (f32.convert_i32_u (local.get $cols)))
        (f32.load offset=20 (local.get $args))))))
      (f32.store (i32.add (i32.load offset=12 (local.get $args)) (i32.shl (local.get $begin) (i32.const 2))) (local.get $rstd))
      (local.set $rv (f32x4.splat (local.get $rstd)))
      (local.set $c (i32.const 0))
      (loop $cv
        (local.set $k (i32.sub (local.get $cols) (local.get $c)))
        (call $storep (local.get $o)
          (f32x4.mul (f32x4.mul (call $loadp (local.get $x) (local.get $k)) (local.get $rv)) (call $loadp (local.get $w) (local.get $k)))
          (local.get $k))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $w (i32.add (local.get $w) (i32.const 16)))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br_if $cv (i32.lt_s (local.tee $c (i32.add (local.get $c) (i32.const 4))) (local.get $cols))))
      (local.set $begin (i32.add (local.get $begin) (i32.const 1)))
      (br $rows))))
