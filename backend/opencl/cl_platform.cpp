// cl_platform.cpp — device discovery, DeviceInfo queries and probe_opencl() (see cl_platform.hpp).
#include "backend/opencl/cl_platform.hpp"

#include <cstdio>
#include <fstream>

#include "backend/device.hpp"

namespace lowbit::detail::cl {

std::vector<DeviceEntry> list_devices() {
  cl_uint np = 0;
  cl_int err = clGetPlatformIDs(0, nullptr, &np);
  if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0))
    throw Error(ErrorCode::NotFound, "no OpenCL platform (install pocl-opencl-icd or a GPU driver)");
  if (err != CL_SUCCESS)
    throw Error(ErrorCode::NotFound, std::string("no OpenCL platform: clGetPlatformIDs: ") + error_name(err));
  std::vector<cl_platform_id> plats(np);
  check(clGetPlatformIDs(np, plats.data(), nullptr), "clGetPlatformIDs");
  std::vector<DeviceEntry> out;
  for (cl_platform_id p : plats) {
    cl_uint nd = 0;
    if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &nd) != CL_SUCCESS || nd == 0) continue;
    std::vector<cl_device_id> devs(nd);
    if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, nd, devs.data(), nullptr) != CL_SUCCESS) continue;
    for (cl_device_id d : devs) out.push_back({p, d, device_string(d, CL_DEVICE_NAME)});
  }
  if (out.empty()) throw Error(ErrorCode::NotFound, "OpenCL platforms found but no devices");
  return out;
}

static bool has_extension(const std::string& exts, const char* name) {
  std::string n(name);
  size_t pos = 0;
  while ((pos = exts.find(n, pos)) != std::string::npos) {
    bool start = pos == 0 || exts[pos - 1] == ' ';
    bool end = pos + n.size() == exts.size() || exts[pos + n.size()] == ' ';
    if (start && end) return true;
    pos += n.size();
  }
  return false;
}

static std::string type_name(cl_device_type t) {
  if (t & CL_DEVICE_TYPE_GPU) return "gpu";
  if (t & CL_DEVICE_TYPE_CPU) return "cpu";
  if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
  return "other";
}

// The PCI device id where the platform reports one: AMD's and Intel's attribute queries, else the PCI
// address of cl_khr_pci_bus_info looked up in sysfs (Linux); 0 = unknown (e.g. PoCL's CPU device).
static uint32_t pci_device_id(cl_device_id d, const std::string& exts) {
  constexpr cl_device_info kPcieIdAmd = 0x4034, kDeviceIdIntel = 0x4251, kPciBusInfoKhr = 0x410F;
  cl_uint id = 0;
  if (has_extension(exts, "cl_amd_device_attribute_query") &&
      clGetDeviceInfo(d, kPcieIdAmd, sizeof id, &id, nullptr) == CL_SUCCESS && id)
    return id;
  if (has_extension(exts, "cl_intel_device_attribute_query") &&
      clGetDeviceInfo(d, kDeviceIdIntel, sizeof id, &id, nullptr) == CL_SUCCESS && id)
    return id;
  cl_uint bus[4] = {};  // cl_device_pci_bus_info_khr: domain, bus, device, function
  if (!has_extension(exts, "cl_khr_pci_bus_info") ||
      clGetDeviceInfo(d, kPciBusInfoKhr, sizeof bus, bus, nullptr) != CL_SUCCESS)
    return 0;
  char path[96];
  std::snprintf(path, sizeof path, "/sys/bus/pci/devices/%04x:%02x:%02x.%x/device", bus[0], bus[1], bus[2], bus[3]);
  std::ifstream f(path);
  std::string text;
  if (!(f >> text)) return 0;
  try {
    return uint32_t(std::stoul(text, nullptr, 16));
  } catch (const std::exception&) {
    return 0;
  }
}

DeviceInfo query_device_info(const DeviceEntry& e, int index) {
  DeviceInfo i;
  i.backend = Backend::OpenCL;
  i.index = index;
  i.name = e.name;
  i.type = type_name(device_value<cl_device_type>(e.device, CL_DEVICE_TYPE));
  i.vendor = device_string(e.device, CL_DEVICE_VENDOR);
  i.vendor_id = device_value<cl_uint>(e.device, CL_DEVICE_VENDOR_ID);
  i.driver_version = device_string(e.device, CL_DRIVER_VERSION) + " (" +
                     platform_string(e.platform, CL_PLATFORM_VERSION) + ")";
  i.api_version = device_string(e.device, CL_DEVICE_VERSION);
  i.subgroup_size = 1;
  i.shared_memory_bytes = device_value<cl_ulong>(e.device, CL_DEVICE_LOCAL_MEM_SIZE);
  i.max_workgroup_size = uint32_t(device_value<size_t>(e.device, CL_DEVICE_MAX_WORK_GROUP_SIZE));
  i.max_buffer_range = device_value<cl_ulong>(e.device, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
  std::string exts = device_string(e.device, CL_DEVICE_EXTENSIONS);
  i.fp16 = has_extension(exts, "cl_khr_fp16");
  i.int8 = true;  // char/uchar arithmetic and byte-addressable stores are core OpenCL C
  i.integer_dot_product = has_extension(exts, "cl_khr_integer_dot_product");
  i.cooperative_matrix = false;
  i.device_id = pci_device_id(e.device, exts);
  return i;
}

std::string driver_key(const DeviceEntry& e) {
  return e.name + "\n" + device_string(e.device, CL_DRIVER_VERSION) + "\n" +
         platform_string(e.platform, CL_PLATFORM_VERSION) + "\n";
}

uint32_t kernel_multiple(cl_kernel k, cl_device_id d) {
  size_t m = 0;
  if (clGetKernelWorkGroupInfo(k, d, CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE, sizeof m, &m, nullptr) !=
          CL_SUCCESS ||
      m == 0)
    return 1;
  return uint32_t(m);
}

// Builds the probe kernel on a throwaway context to read the preferred work-group multiple.
static uint32_t probe_multiple(const DeviceEntry& e) {
  cl_int err = CL_SUCCESS;
  cl_device_id dev = e.device;
  Context ctx(clCreateContext(nullptr, 1, &dev, nullptr, nullptr, &err));
  if (err != CL_SUCCESS) return 1;
  const char* src = probe_kernel_source();
  Program prog(clCreateProgramWithSource(ctx.get(), 1, &src, nullptr, &err));
  if (err != CL_SUCCESS || clBuildProgram(prog.get(), 1, &dev, "-cl-std=CL1.2", nullptr, nullptr) != CL_SUCCESS)
    return 1;
  Kernel k(clCreateKernel(prog.get(), "lb_probe", &err));
  return err == CL_SUCCESS ? kernel_multiple(k.get(), dev) : 1;
}

}  // namespace lowbit::detail::cl

namespace lowbit::detail {

BackendReport probe_opencl() {
  BackendReport r{Backend::OpenCL, false, "", {}};
  try {
    auto devs = cl::list_devices();
    for (size_t i = 0; i < devs.size(); ++i) {
      DeviceInfo info = cl::query_device_info(devs[i], int(i));
      info.subgroup_size = cl::probe_multiple(devs[i]);
      r.devices.push_back(std::move(info));
    }
    r.available = !r.devices.empty();
  } catch (const std::exception& e) {
    r.available = false;
    r.reason = e.what();
    r.devices.clear();
  }
  return r;
}

}  // namespace lowbit::detail
