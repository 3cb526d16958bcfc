// The 3-D spine with its implants (three.js): vertebra surfaces from the label map, screws as
// cylinders from entry point to tip, rods through the screw heads, cages as boxes. A screw can
// be dragged: its entry point moves in the plane facing the camera.
import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";

export class SpineScene {
  constructor(canvas, onDragEnd) {
    this.renderer = new THREE.WebGLRenderer({ canvas, antialias: true });
    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(0x10141a);
    this.camera = new THREE.PerspectiveCamera(35, canvas.clientWidth / canvas.clientHeight, 1, 4000);
    this.controls = new OrbitControls(this.camera, canvas);
    this.scene.add(new THREE.AmbientLight(0xffffff, 0.5));
    const light = new THREE.DirectionalLight(0xffffff, 1.0);
    light.position.set(300, -400, 300);
    this.scene.add(light);
    this.bones = new THREE.Group();
    this.implants = new THREE.Group();
    this.scene.add(this.bones, this.implants);
    this.onDragEnd = onDragEnd;
    this._drag(canvas);
    const loop = () => {
      this.renderer.setSize(canvas.clientWidth, canvas.clientHeight, false);
      this.camera.aspect = canvas.clientWidth / Math.max(1, canvas.clientHeight);
      this.camera.updateProjectionMatrix();
      this.renderer.render(this.scene, this.camera);
      requestAnimationFrame(loop);
    };
    loop();
  }

  setSpine(levels) {
    this.bones.clear();
    const box = new THREE.Box3();
    for (const lv of levels) {
      const g = new THREE.BufferGeometry();
      g.setAttribute("position", new THREE.Float32BufferAttribute(lv.vertices, 3));
      g.setIndex(lv.faces);
      g.computeVertexNormals();
      const mesh = new THREE.Mesh(g, new THREE.MeshPhongMaterial({ color: 0xe8dcc0, transparent: true, opacity: 0.55, side: THREE.DoubleSide }));
      this.bones.add(mesh);
      g.computeBoundingBox();
      box.union(g.boundingBox);
    }
    const c = box.getCenter(new THREE.Vector3());
    const size = box.getSize(new THREE.Vector3()).length();
    this.camera.up.set(0, 0, 1);
    this.camera.position.set(c.x + size * 0.9, c.y - size * 1.2, c.z + size * 0.2);
    this.controls.target.copy(c);
    this.controls.update();
  }

  setPlan(plan, selected) {
    this.implants.clear();
    this.plan = plan;
    plan.screws.forEach((s, i) => {
      const e = new THREE.Vector3(...s.entry_point);
      const d = new THREE.Vector3(...s.direction).normalize();
      const g = new THREE.CylinderGeometry(s.diameter_mm / 2, s.diameter_mm / 2, s.length_mm, 16);
      const colour = s.breach ? 0xd0342c : i === selected ? 0x4fc3f7 : 0x9aa7b5;
      const m = new THREE.Mesh(g, new THREE.MeshPhongMaterial({ color: colour }));
      m.position.copy(e.clone().addScaledVector(d, s.length_mm / 2));
      m.quaternion.setFromUnitVectors(new THREE.Vector3(0, 1, 0), d);
      m.userData.screw = i;
      this.implants.add(m);
    });
    for (const r of plan.rods) {
      const pts = r.points.map((p) => new THREE.Vector3(...p));
      if (pts.length < 2) continue;
      const curve = new THREE.CatmullRomCurve3(pts);
      this.implants.add(new THREE.Mesh(new THREE.TubeGeometry(curve, 32, r.diameter_mm / 2, 8), new THREE.MeshPhongMaterial({ color: 0xc0c8d0 })));
    }
    for (const c of plan.cages) {
      const m = new THREE.Mesh(new THREE.BoxGeometry(c.width_mm, c.depth_mm, c.height_mm), new THREE.MeshPhongMaterial({ color: 0x43a047, transparent: true, opacity: 0.8 }));
      m.position.set(...c.centre);
      this.implants.add(m);
    }
  }

  _drag(canvas) {
    const ray = new THREE.Raycaster();
    const ndc = new THREE.Vector2();
    let active = null;
    const plane = new THREE.Plane();
    const hit = new THREE.Vector3();
    const toNdc = (ev) => {
      const r = canvas.getBoundingClientRect();
      ndc.set(((ev.clientX - r.left) / r.width) * 2 - 1, -((ev.clientY - r.top) / r.height) * 2 + 1);
    };
    canvas.addEventListener("pointerdown", (ev) => {
      toNdc(ev);
      ray.setFromCamera(ndc, this.camera);
      const found = ray.intersectObjects(this.implants.children.filter((o) => o.userData.screw !== undefined))[0];
      if (!found) return;
      active = found.object.userData.screw;
      this.controls.enabled = false;
      const normal = this.camera.getWorldDirection(new THREE.Vector3());
      plane.setFromNormalAndCoplanarPoint(normal, new THREE.Vector3(...this.plan.screws[active].entry_point));
    });
    canvas.addEventListener("pointermove", (ev) => {
      if (active === null) return;
      toNdc(ev);
      ray.setFromCamera(ndc, this.camera);
      if (ray.ray.intersectPlane(plane, hit)) {
        this.plan.screws[active].entry_point = [hit.x, hit.y, hit.z];
        this.setPlan(this.plan, active);
      }
    });
    window.addEventListener("pointerup", () => {
      if (active === null) return;
      const i = active;
      active = null;
      this.controls.enabled = true;
      this.onDragEnd(i, this.plan.screws[i].entry_point);
    });
  }
}
