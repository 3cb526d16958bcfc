// The image view: axial, sagittal and coronal CT slices with the label overlay and
// window/level (NiiVue, WebGL2). Without WebGL2 the view says so and the rest still works.
import { Niivue } from "@niivue/niivue";

export async function showImages(canvas, caseId, status) {
  let nv;
  try {
    nv = new Niivue({ backColor: [0, 0, 0, 1], show3Dcrosshair: true, isResizeCanvas: true });
    await nv.attachToCanvas(canvas);
  } catch (err) {
    status.textContent = `the slice view needs WebGL2, which this browser lacks (${err.message || err})`;
    return null;
  }
  try {
    await nv.loadVolumes([
      { url: `/api/cases/${caseId}/volume.nii.gz`, name: "ct.nii.gz", colormap: "gray", cal_min: -250, cal_max: 1250 },
      { url: `/api/cases/${caseId}/labels.nii.gz`, name: "labels.nii.gz", colormap: "jet", cal_min: 0.5, cal_max: 40, opacity: 0.35 },
    ]);
    nv.setSliceType(nv.sliceTypeMultiplanar);
    status.textContent = "drag in a slice to move the crosshair; right-drag to change window/level";
  } catch (err) {
    status.textContent = `images could not be shown: ${err.message || err}`;
  }
  return nv;
}

export function setWindow(nv, centre, width) {
  if (!nv || !nv.volumes.length) return;
  nv.volumes[0].cal_min = centre - width / 2;
  nv.volumes[0].cal_max = centre + width / 2;
  nv.updateGLVolume();
}
