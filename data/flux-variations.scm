; flux-variations.scm — FLUX variations: one prompt, N seeds, one layer per seed.
;
; Installed into your GIMP scripts folder (~/.config/GIMP/2.10/scripts/) by `meson install`,
; or copy it there by hand. It adds File ▸ Create ▸ FLUX Variations... and two functions
; for batch use with gimp-console (no GIMP window needed):
;
;   (flux-variations prompt count first-seed width height steps guidance model)
;       → a new image with `count` layers, seeds first-seed, first-seed+1, ...
;         (first-seed -1: random seeds; steps 0: the model's default, 4 for schnell-type
;         and 28 for dev-type models). Layers are named "seed N: prompt".
;   (flux-variations-save prompt count first-seed width height steps guidance model prefix)
;       → the same, and each layer saved as prefix-seedN.png; the image is then closed.
;
; Example (four 512×512 variations on FLUX.1-schnell with its default steps; guidance is
; ignored by schnell-type models; the model is a folder or a transformer file such as
; flux1-schnell.safetensors; an empty model "" means the one last chosen in the dialog):
;
;   gimp-console-2.10 -i -b '(flux-variations-save "a lighthouse at dusk" 4 100 512 512 0 3.5
;       "/home/me/models/FLUX.1-schnell" "/home/me/out/lighthouse")' -b '(gimp-quit 0)'

(define (flux-variations prompt count first-seed width height steps guidance model)
  (let* ((first (plug-in-flux-generate-image RUN-NONINTERACTIVE prompt width height
                                             steps guidance first-seed model))
         (image (car first)))
    (gimp-image-undo-disable image)
    (flux-variations-name (car (gimp-image-get-active-layer image)) (cadr first) prompt)
    (let loop ((i 1))
      (if (< i count)
          (let* ((seed (if (< first-seed 0) -1 (+ first-seed i)))
                 (made (plug-in-flux-generate RUN-NONINTERACTIVE image -1 prompt width
                                              height steps guidance seed model)))
            (flux-variations-name (car made) (cadr made) prompt)
            (loop (+ i 1)))))
    (gimp-image-undo-enable image)
    image))

(define (flux-variations-name layer seed prompt)
  (gimp-item-set-name layer (string-append "seed " (number->string seed) ": " prompt)))

(define (flux-variations-save prompt count first-seed width height steps guidance model prefix)
  (let* ((image (flux-variations prompt count first-seed width height steps guidance model))
         (layers (vector->list (cadr (gimp-image-get-layers image)))))
    (for-each
     (lambda (layer)
       (let* ((name (car (gimp-item-get-name layer)))
              (seed (substring name 5 (flux-variations-colon name)))
              (file (string-append prefix "-seed" seed ".png")))
         (file-png-save2 RUN-NONINTERACTIVE image layer file file 0 9 0 0 0 0 0 0 0)))
     layers)
    (gimp-image-delete image)
    (length layers)))

; index of the first ':' in "seed N: ..."
(define (flux-variations-colon name)
  (let loop ((i 0))
    (if (char=? (string-ref name i) #\:) i (loop (+ i 1)))))

(define (script-fu-flux-variations prompt count first-seed width height steps guidance model)
  (gimp-display-new
   (flux-variations prompt count first-seed width height steps guidance model))
  (gimp-displays-flush))

(script-fu-register "script-fu-flux-variations"
  "FLUX _Variations..."
  "One prompt rendered with several seeds, one layer per seed, in a new image"
  "gimp-flux authors"
  "gimp-flux authors"
  "2025"
  ""
  SF-TEXT       "Prompt"                        "a photo of a cat"
  SF-ADJUSTMENT "Number of variations"          '(4 1 64 1 4 0 1)
  SF-ADJUSTMENT "First seed (-1 = random)"      '(0 -1 2147483647 1 10 0 1)
  SF-ADJUSTMENT "Width"                         '(1024 16 4096 16 64 0 1)
  SF-ADJUSTMENT "Height"                        '(1024 16 4096 16 64 0 1)
  SF-ADJUSTMENT "Steps (0 = the model's default)" '(0 0 1000 1 4 0 1)
  SF-ADJUSTMENT "Guidance (dev-type models)"    '(3.5 0 100 0.5 1 1 1)
  SF-DIRNAME    "Model folder (empty = last used)" "")
; (a transformer file instead of a folder: from a script, or choose it once in the FLUX Text
; to Image dialog and leave this empty)

(script-fu-menu-register "script-fu-flux-variations" "<Image>/File/Create")
