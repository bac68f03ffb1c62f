"""Demo data: the city, real HCMC agencies, a few wards, one user per role."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select

from cityai.core import identity
from cityai.core.models import User

# (code, name, English name, kind, parent code)
AGENCIES = [
    ("hcmc", "Ủy ban nhân dân Thành phố Hồ Chí Minh", "Ho Chi Minh City People's Committee", "city", None),
    ("skhcn", "Sở Khoa học và Công nghệ", "Department of Science and Technology", "department", "hcmc"),
    ("skhcn.cds", "Phòng Chuyển đổi số", "Digital Transformation Division", "division", "skhcn"),
    ("skhcn.ql", "Phòng Quản lý Khoa học", "Science Management Division", "division", "skhcn"),
    ("syt", "Sở Y tế", "Department of Health", "department", "hcmc"),
    ("sgddt", "Sở Giáo dục và Đào tạo", "Department of Education and Training", "department", "hcmc"),
    ("sxd", "Sở Xây dựng", "Department of Construction", "department", "hcmc"),
    ("snv", "Sở Nội vụ", "Department of Home Affairs", "department", "hcmc"),
    ("stc", "Sở Tài chính", "Department of Finance", "department", "hcmc"),
    ("snnmt", "Sở Nông nghiệp và Môi trường", "Department of Agriculture and Environment", "department", "hcmc"),
    ("ttcds", "Trung tâm Chuyển đổi số", "Digital Transformation Centre", "department", "hcmc"),
    ("catp", "Công an Thành phố", "City Police", "department", "hcmc"),
    ("p.saigon", "Phường Sài Gòn", "Sai Gon Ward", "ward", "hcmc"),
    ("p.bennhe", "Phường Bến Thành", "Ben Thanh Ward", "ward", "hcmc"),
    ("p.thuduc", "Phường Thủ Đức", "Thu Duc Ward", "ward", "hcmc"),
    ("x.cangio", "Xã Cần Giờ", "Can Gio Commune", "commune", "hcmc"),
    ("dk.condao", "Đặc khu Côn Đảo", "Con Dao Special Zone", "special_zone", "hcmc"),
]

# (email, full name, agency code, role, sysadmin)
USERS = [
    ("admin@cityai.local", "Quản trị hệ thống", None, None, True),
    ("quantri.skhcn@cityai.local", "Nguyễn Văn An", "skhcn", "admin", False),
    ("bientap.skhcn@cityai.local", "Trần Thị Bình", "skhcn", "editor", False),
    ("thanhvien.syt@cityai.local", "Lê Hoàng Cường", "syt", "member", False),
    ("quantri.saigon@cityai.local", "Phạm Thị Dung", "p.saigon", "admin", False),
]


def load_core_demo(ctx: Any) -> list[str]:
    ids: dict[str, int] = {}
    for code, name, name_en, kind, parent in AGENCIES:
        existing = identity.agency_by_code(ctx, code)
        if existing is None:
            existing = identity.agency_create(ctx, code=code, name=name, name_en=name_en, kind=kind,
                                              parent_id=ids.get(parent) if parent else None)
        ids[code] = existing.id
    lines: list[str] = []
    for email, full_name, agency, role, sysadmin in USERS:
        if ctx.db.execute(select(User.id).where(User.email == email)).first():
            continue
        password = secrets.token_urlsafe(9)
        identity.user_create(ctx, email=email, full_name=full_name, password=password + "-Demo",
                             agency_id=ids.get(agency) if agency else None, role=role or "member",
                             is_sysadmin=sysadmin)
        label = "system administrator" if sysadmin else f"{role} of {agency}"
        lines.append(f"  {email:32} {password + '-Demo':24} ({label})")
    return lines
